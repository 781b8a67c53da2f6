package packagekit

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

func TestDaemonCalls(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	startFake(t, bus, testName, nil)
	pk := newClient(t, bus, testName)
	ctx := testCtx(t)

	p, err := pk.Properties(ctx)
	if err != nil {
		t.Fatalf("Properties: %v", err)
	}
	if p.Version() != "1.2.6" || p.BackendName != "fake" || p.DistroID != "debian;12;x86_64" ||
		p.NetworkState != NetworkOnline || p.Locked || !slices.Equal(p.MimeTypes, []string{"application/x-deb"}) {
		t.Errorf("properties = %+v", p)
	}
	if p.Roles != BitfieldOf(RoleGetUpdates, RoleResolve, RoleInstallPackages) ||
		!p.Filters.Has(FilterNotInstalled) || !p.Groups.Has(GroupSystem) {
		t.Errorf("bitfields: roles %v, filters %v, groups %v", p.Roles, p.Filters, p.Groups)
	}

	if a, err := pk.CanAuthorize(ctx, "org.freedesktop.packagekit.package-install"); err != nil || a != AuthorizeYes {
		t.Errorf("CanAuthorize = %v, %v; want yes", a, err)
	}
	if d, err := pk.GetTimeSinceAction(ctx, RoleRefreshCache); err != nil || d != 13*time.Minute {
		t.Errorf("GetTimeSinceAction = %v, %v; want 13m (the fake answers role minutes)", d, err)
	}
	tx, err := pk.CreateTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	list, err := pk.GetTransactionList(ctx)
	if err != nil || !slices.Equal(list, []dbus.ObjectPath{tx.Path()}) {
		t.Errorf("GetTransactionList = %v, %v; want [%s]", list, err, tx.Path())
	}
}

func TestNoDaemon(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	pk := newClient(t, bus, "org.kde.kapsule.PackageKit.nobody")
	_, err := pk.Run(testCtx(t), GetUpdates(NoFilter))
	if !errors.Is(err, ErrNoDaemon) {
		t.Errorf("Run = %v, want ErrNoDaemon", err)
	}
}

// TestDialOverStream drives the client over a plain byte stream, the way
// the Incus exec stream of systemd-stdio-bridge is used, with the default
// destination name.
func TestDialOverStream(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	startFake(t, bus, DefaultDestination, func(tx *fakeTx, method string, args []any) *dbus.Error {
		tx.pkg(InfoNormal, InfoNormal, "kapsule-fixture;1.1;all;local", "fixture")
		tx.finish(ExitSuccess)
		return nil
	})
	pk, err := Dial(testCtx(t), unixDialer(bus.Address), DefaultDestination)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	res, err := pk.Run(testCtx(t), GetUpdates(NoFilter))
	if err != nil || len(res.Packages) != 1 {
		t.Errorf("Run = %+v, %v", res, err)
	}
	conn := pk.Conn()
	if err := pk.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if conn.Connected() {
		t.Error("Close of a dialled client left its connection open")
	}
}

func TestOpenConnGivesUpWithContext(t *testing.T) {
	t.Parallel()
	// A stream whose other end never answers the handshake.
	server, client := net.Pipe()
	defer server.Close()
	ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
	defer cancel()
	go func() { _, _ = io.Copy(io.Discard, server) }()
	if _, err := OpenConn(ctx, client); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("OpenConn = %v, want context.DeadlineExceeded", err)
	}
}
