package bridge

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// errWithin waits for a call and checks that it failed with errName within d.
func errWithin(t *testing.T, call *dbus.Call, d time.Duration, errName, text string) {
	t.Helper()
	start := time.Now()
	select {
	case r := <-call.Done:
		if dbusErrorName(r.Err) != errName || !strings.Contains(r.Err.Error(), text) {
			t.Errorf("%s: %v, want %s with %q", call.Method, r.Err, errName, text)
		}
		t.Logf("%s failed after %v: %v", call.Method, time.Since(start).Round(time.Millisecond), r.Err)
	case <-time.After(d):
		t.Fatalf("%s: no answer within %v", call.Method, d)
	}
}

// waitUntil polls cond for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// watchOwner follows owner changes of name on the client's bus.
func watchOwner(t *testing.T, c *dbus.Conn, name string) chan *dbus.Signal {
	return watch(t, c, dbus.WithMatchSender("org.freedesktop.DBus"), dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, name))
}

// expectBounce checks for the name going and coming back within d.
func expectBounce(t *testing.T, ch chan *dbus.Signal, name, owner string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for i, want := range [][]string{{name, owner, ""}, {name, "", owner}} {
		select {
		case s := <-ch:
			got := []string{s.Body[0].(string), s.Body[1].(string), s.Body[2].(string)}
			if !slices.Equal(got, want) {
				t.Fatalf("NameOwnerChanged %q, want %q", got, want)
			}
		case <-deadline:
			t.Fatalf("no NameOwnerChanged #%d within %v", i+1, d)
		}
	}
}

func ownerOf(t *testing.T, c *dbus.Conn, name string) string {
	t.Helper()
	var owner string
	if err := c.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, name).Store(&owner); err != nil {
		t.Fatalf("GetNameOwner(%s): %v", name, err)
	}
	return owner
}

func TestForwarderConnectsLazilyAndStaysConnected(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	if e.dials.Load() != 0 || e.fwd.Connected() {
		t.Fatalf("dialled %d times before any call", e.dials.Load())
	}
	_ = c.Object(e.name, pkPath).Call("org.freedesktop.systemd1.Manager.Reboot", 0).Err
	if e.dials.Load() != 0 {
		t.Errorf("a refused call dialled the container")
	}
	for range 5 {
		if err := e.daemon(c).Call(propsIface+".GetAll", 0, pkIface).Err; err != nil {
			t.Fatal(err)
		}
	}
	if n := e.dials.Load(); n != 1 || !e.fwd.Connected() {
		t.Errorf("dialled %d times (connected %v), want once", n, e.fwd.Connected())
	}
}

// TestForwarderQueuesCallsWhileConnecting holds the dial and checks that
// calls made meanwhile reach PackageKit afterwards, in order.
func TestForwarderQueuesCallsWhileConnecting(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var e *fwdEnv
	e = newEnv(t, func(ec *envConfig) {
		ec.config = func(cfg *ForwarderConfig) {
			cfg.Dial = func(ctx context.Context) (io.ReadWriteCloser, error) {
				<-release
				return e.dialContainer(ctx)
			}
		}
	})
	c := e.client()
	d := e.daemon(c)
	calls := []*dbus.Call{
		d.Go(pkIface+".CreateTransaction", 0, make(chan *dbus.Call, 1)),
		d.Go(pkIface+".GetDaemonState", 0, make(chan *dbus.Call, 1)),
		d.Go(pkIface+".GetTimeSinceAction", 0, make(chan *dbus.Call, 1), uint32(9)),
		d.Go(propsIface+".GetAll", 0, make(chan *dbus.Call, 1), pkIface),
	}
	c2 := e.client()
	other := e.daemon(c2).Go(pkIface+".CanAuthorize", 0, make(chan *dbus.Call, 1), "x")
	waitUntil(t, "the calls are queued", e.fwd.Busy)
	select {
	case r := <-calls[0].Done:
		t.Fatalf("answered before the link was up: %v", r.Err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	for _, call := range append(calls, other) {
		if r := <-call.Done; r.Err != nil {
			t.Errorf("%s: %v", call.Method, r.Err)
		}
	}
	var got []string
	for _, m := range e.pk.received("") {
		if m.Sender != "" && m.Member != "CanAuthorize" {
			got = append(got, m.Member)
		}
	}
	if want := []string{"CreateTransaction", "GetDaemonState", "GetTimeSinceAction", "GetAll"}; !slices.Equal(got, want) {
		t.Errorf("PackageKit received %v, want %v", got, want)
	}
}

func TestForwarderDialFailure(t *testing.T) {
	t.Parallel()
	var e *fwdEnv
	fail := true
	e = newEnv(t, func(ec *envConfig) {
		ec.config = func(cfg *ForwarderConfig) {
			cfg.Dial = func(ctx context.Context) (io.ReadWriteCloser, error) {
				if fail {
					fail = false
					e.dials.Add(1)
					return nil, errors.New("start container: storage pool is broken")
				}
				return e.dialContainer(ctx)
			}
		}
	})
	c := e.client()
	call := e.daemon(c).Go(propsIface+".GetAll", 0, make(chan *dbus.Call, 1), pkIface)
	errWithin(t, call, 2*time.Second, errNameNoServer, `container "dev": start container: storage pool is broken`)
	if e.fwd.Busy() || e.fwd.Connected() {
		t.Errorf("busy %v, connected %v after a failed dial", e.fwd.Busy(), e.fwd.Connected())
	}
	if err := e.daemon(c).Call(propsIface+".GetAll", 0, pkIface).Err; err != nil {
		t.Errorf("call after a failed dial: %v", err)
	}
	if n := e.dials.Load(); n != 2 {
		t.Errorf("dialled %d times, want 2", n)
	}
}

func TestForwarderDialTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(ec *envConfig) {
		ec.config = func(cfg *ForwarderConfig) {
			cfg.DialTimeout = 300 * time.Millisecond
			cfg.Dial = func(ctx context.Context) (io.ReadWriteCloser, error) {
				<-ctx.Done()
				return nil, context.Cause(ctx)
			}
		}
	})
	c := e.client()
	call := e.daemon(c).Go(pkIface+".CreateTransaction", 0, make(chan *dbus.Call, 1))
	errWithin(t, call, 2*time.Second, errNameNoServer, "no connection within 300ms")
}

// TestForwarderAuthTimeout: a Dial that connects to something that never
// answers the authentication is bounded too.
func TestForwarderAuthTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(ec *envConfig) {
		ec.config = func(cfg *ForwarderConfig) {
			cfg.DialTimeout = 300 * time.Millisecond
			cfg.Dial = func(ctx context.Context) (io.ReadWriteCloser, error) {
				a, b := net.Pipe()
				go func() { _, _ = io.Copy(io.Discard, b) }()
				context.AfterFunc(ctx, func() { b.Close() })
				return a, nil
			}
		}
	})
	call := e.daemon(e.client()).Go(pkIface+".CreateTransaction", 0, make(chan *dbus.Call, 1))
	errWithin(t, call, 2*time.Second, errNameNoServer, "no connection within 300ms")
}

func TestForwarderLinkLossFailsPendingCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(ec *envConfig) { ec.fake = func(f *fakePK) { f.stallDaemonState = true } })
	c := e.client()
	owners := watchOwner(t, c, e.name)
	stuck := e.daemon(c).Go(pkIface+".GetDaemonState", 0, make(chan *dbus.Call, 1))
	waitUntil(t, "PackageKit has the call", func() bool { return len(e.pk.received("GetDaemonState")) == 1 })
	if !e.fwd.Busy() {
		t.Errorf("not busy with a call pending")
	}
	e.cutLinks()
	errWithin(t, stuck, 2*time.Second, errNameNoReply, `lost the connection to container "dev"`)
	waitUntil(t, "the link is down", func() bool { return !e.fwd.Connected() })
	if e.fwd.Busy() {
		t.Errorf("busy after the link was lost")
	}
	// No transaction was open: the name stays.
	noSignal(t, owners, "org.freedesktop.DBus.NameOwnerChanged", 300*time.Millisecond)
	if err := e.daemon(c).Call(propsIface+".GetAll", 0, pkIface).Err; err != nil {
		t.Errorf("call after the link was lost: %v", err)
	}
	if n := e.dials.Load(); n != 2 {
		t.Errorf("dialled %d times, want 2", n)
	}
}

// TestForwarderLinkLossBouncesNameWithOpenTransactions: clients waiting for
// Finished learn that the daemon went away from the name's owner change.
func TestForwarderLinkLossBouncesNameWithOpenTransactions(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	e := newEnv(t, func(ec *envConfig) { ec.fake = func(f *fakePK) { f.holdRuns = hold } })
	t.Cleanup(func() { close(hold) })
	c := e.client()
	owner := ownerOf(t, c, e.name)
	owners := watchOwner(t, c, e.name)
	tx := e.createTx(c)
	if err := c.Object(e.name, tx).Call(pkTxIface+".GetUpdates", 0, uint64(2)).Err; err != nil {
		t.Fatal(err)
	}
	if !e.fwd.Busy() {
		t.Errorf("not busy with a transaction open")
	}
	e.cutLinks()
	expectBounce(t, owners, e.name, owner, 2*time.Second)
	if e.fwd.Busy() {
		t.Errorf("busy after the link was lost")
	}
	if err := e.daemon(c).Call(propsIface+".GetAll", 0, pkIface).Err; err != nil {
		t.Errorf("call after the bounce: %v", err)
	}
	if n := e.dials.Load(); n != 2 {
		t.Errorf("dialled %d times, want 2", n)
	}
}

func TestForwarderPackageKitCrashBouncesName(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	e := newEnv(t, func(ec *envConfig) { ec.fake = func(f *fakePK) { f.holdRuns = hold } })
	t.Cleanup(func() { close(hold) })
	c := e.client()
	owner := ownerOf(t, c, e.name)
	owners := watchOwner(t, c, e.name)
	tx := e.createTx(c)
	if err := c.Object(e.name, tx).Call(pkTxIface+".GetUpdates", 0, uint64(2)).Err; err != nil {
		t.Fatal(err)
	}
	e.pk.close() // packagekitd crashes with a transaction running
	expectBounce(t, owners, e.name, owner, 2*time.Second)
	e.pk = newFakePK(t).start(e.container.Address) // activated again
	if err := e.daemon(c).Call(propsIface+".GetAll", 0, pkIface).Err; err != nil {
		t.Errorf("call after the restart: %v", err)
	}
	if n := e.dials.Load(); n != 1 {
		t.Errorf("dialled %d times, want 1: the link survives PackageKit", n)
	}
}

func TestForwarderPackageKitIdleExitKeepsName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	owners := watchOwner(t, c, e.name)
	tx := e.createTx(c)
	sigs := watch(t, c, dbus.WithMatchSender(e.name), dbus.WithMatchObjectPath(tx))
	if err := c.Object(e.name, tx).Call(pkTxIface+".GetUpdates", 0, uint64(2)).Err; err != nil {
		t.Fatal(err)
	}
	nextSignal(t, sigs, pkTxIface+".Destroy")
	if e.fwd.Busy() {
		t.Errorf("busy after Destroy")
	}
	e.restartPK() // idle exit, then activation by the next call
	noSignal(t, owners, "org.freedesktop.DBus.NameOwnerChanged", 300*time.Millisecond)
	tx2 := e.createTx(c)
	if err := c.Object(e.name, tx2).Call(pkTxIface+".GetUpdates", 0, uint64(2)).Err; err != nil {
		t.Errorf("transaction after the restart: %v", err)
	}
	if n := e.dials.Load(); n != 1 {
		t.Errorf("dialled %d times, want 1", n)
	}
}

func TestForwarderDisconnect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(ec *envConfig) { ec.fake = func(f *fakePK) { f.stallDaemonState = true } })
	c := e.client()
	stuck := e.daemon(c).Go(pkIface+".GetDaemonState", 0, make(chan *dbus.Call, 1))
	waitUntil(t, "PackageKit has the call", func() bool { return len(e.pk.received("GetDaemonState")) == 1 })
	e.fwd.Disconnect()
	errWithin(t, stuck, 2*time.Second, errNameNoReply, "dropped by Kapsule")
	if e.fwd.Connected() || e.fwd.Busy() {
		t.Errorf("connected %v, busy %v after Disconnect", e.fwd.Connected(), e.fwd.Busy())
	}
	e.fwd.Disconnect() // no link: nothing to do
	if err := e.daemon(c).Call(propsIface+".GetAll", 0, pkIface).Err; err != nil {
		t.Errorf("call after Disconnect: %v", err)
	}
	if n := e.dials.Load(); n != 2 {
		t.Errorf("dialled %d times, want 2", n)
	}
}

func TestForwarderActivity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if !e.fwd.LastActivity().IsZero() || e.fwd.Busy() {
		t.Fatalf("activity %v, busy %v before any call", e.fwd.LastActivity(), e.fwd.Busy())
	}
	c := e.client()
	before := time.Now()
	tx := e.createTx(c)
	if !e.fwd.Busy() {
		t.Errorf("not busy with transaction %s open", tx)
	}
	if la := e.fwd.LastActivity(); la.Before(before) || la.After(time.Now()) {
		t.Errorf("LastActivity %v not within the call", la)
	}
	sigs := watch(t, c, dbus.WithMatchSender(e.name), dbus.WithMatchObjectPath(tx))
	if err := c.Object(e.name, tx).Call(pkTxIface+".GetUpdates", 0, uint64(2)).Err; err != nil {
		t.Fatal(err)
	}
	nextSignal(t, sigs, pkTxIface+".Finished")
	waitUntil(t, "not busy after Finished", func() bool { return !e.fwd.Busy() })
	last := e.fwd.LastActivity()
	nextSignal(t, sigs, pkTxIface+".Destroy")
	if !e.fwd.LastActivity().After(last) {
		t.Errorf("LastActivity not moved by signals")
	}
}

func TestForwarderNameSquatted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(ec *envConfig) { ec.noRun = true })
	squatter := e.client()
	if r, err := squatter.RequestName(e.name, dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatal(r, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := e.fwd.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "already owned by "+squatter.Names()[0]) {
		t.Errorf("Run = %v, want an error naming the owner", err)
	}
	select {
	case <-e.fwd.Ready():
		t.Errorf("ready without the name")
	default:
	}
	if err := e.fwd.Run(ctx); err == nil {
		t.Errorf("second Run succeeded")
	}
}

func TestForwarderStopReleasesNameAndFailsCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(ec *envConfig) { ec.fake = func(f *fakePK) { f.stallDaemonState = true } })
	c := e.client()
	owner := ownerOf(t, c, e.name)
	owners := watchOwner(t, c, e.name)
	stuck := e.daemon(c).Go(pkIface+".GetDaemonState", 0, make(chan *dbus.Call, 1))
	waitUntil(t, "PackageKit has the call", func() bool { return len(e.pk.received("GetDaemonState")) == 1 })
	if err := e.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	errWithin(t, stuck, time.Second, errNameNoServer, "stopping")
	s := nextSignal(t, owners, "org.freedesktop.DBus.NameOwnerChanged")
	if s.Body[1] != owner || s.Body[2] != "" {
		t.Errorf("NameOwnerChanged%v", s.Body)
	}
	// The container's side is closed too: PackageKit sees its caller leave.
	waitUntil(t, "the upstream connection is closed", func() bool {
		var names []string
		_ = e.pk.conn.BusObject().Call("org.freedesktop.DBus.ListNames", 0).Store(&names)
		for _, m := range e.pk.received("GetDaemonState") {
			if slices.Contains(names, m.Sender) {
				return false
			}
		}
		return true
	})
}

// TestForwarderSessionBusLoss: losing the bus connection ends Run with an
// error.
func TestForwarderSessionBusLoss(t *testing.T) {
	t.Parallel()
	var conn net.Conn
	e := newEnv(t, func(ec *envConfig) {
		ec.noRun = true
	})
	cfg := e.fwd.cfg
	cfg.SessionAddress = ""
	cfg.DialSession = func(ctx context.Context) (io.ReadWriteCloser, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", unixPath(t, e.session.Address))
		conn = c
		return c, err
	}
	fwd, err := NewForwarder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fwd.Run(context.Background()) }()
	<-fwd.Ready()
	if err := e.daemon(e.client()).Call(propsIface+".GetAll", 0, pkIface).Err; err != nil {
		t.Fatal(err)
	}
	conn.Close()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "bus connection lost") {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still running after losing its bus")
	}
}

func TestNewForwarderChecksConfig(t *testing.T) {
	t.Parallel()
	dial := func(context.Context) (io.ReadWriteCloser, error) { return nil, errors.New("no") }
	for name, cfg := range map[string]ForwarderConfig{
		"no bus":        {Name: testName, Dial: dial},
		"no dial":       {SessionAddress: "unix:path=/nonexistent", Name: testName},
		"no name":       {SessionAddress: "unix:path=/nonexistent", Dial: dial},
		"unique name":   {SessionAddress: "unix:path=/nonexistent", Dial: dial, Name: ":1.2"},
		"one element":   {SessionAddress: "unix:path=/nonexistent", Dial: dial, Name: "PackageKit"},
		"bad character": {SessionAddress: "unix:path=/nonexistent", Dial: dial, Name: "org.kde.kapsule.Package/Kit"},
		"digit element": {SessionAddress: "unix:path=/nonexistent", Dial: dial, Name: "org.kde.1dev"},
	} {
		if _, err := NewForwarder(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := NewForwarder(ForwarderConfig{SessionAddress: "unix:path=/x", Dial: dial, Name: pkName}); err != nil {
		t.Errorf("org.freedesktop.PackageKit: %v", err)
	}
}

// TestForwarderNameTakenDuringBounce: a connection queued for the name gets
// it when the forwarder releases it; Run then fails and says who has it.
func TestForwarderNameTakenDuringBounce(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	e := newEnv(t, func(ec *envConfig) { ec.fake = func(f *fakePK) { f.holdRuns = hold } })
	t.Cleanup(func() { close(hold) })
	c := e.client()
	squatter := e.client()
	if r, err := squatter.RequestName(e.name, 0); err != nil || r != dbus.RequestNameReplyInQueue {
		t.Fatalf("queue for the name: %v %v", r, err)
	}
	tx := e.createTx(c)
	if err := c.Object(e.name, tx).Call(pkTxIface+".GetUpdates", 0, uint64(2)).Err; err != nil {
		t.Fatal(err)
	}
	e.cutLinks()
	select {
	case err := <-e.runErr:
		e.runErr <- nil // for the cleanup
		if err == nil || !strings.Contains(err.Error(), "already owned by "+squatter.Names()[0]) {
			t.Errorf("Run = %v, want an error naming the new owner", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run kept running without its name")
	}
}

// TestForwarderCopiesFlags: NO_AUTO_START, ALLOW_INTERACTIVE_AUTHORIZATION
// and NO_REPLY_EXPECTED reach PackageKit as the client set them.
func TestForwarderCopiesFlags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	tx := e.createTx(c)
	obj := c.Object(e.name, tx)
	// godbus' Object.Call drops ALLOW_INTERACTIVE_AUTHORIZATION: send by hand.
	hints := &dbus.Message{Type: dbus.TypeMethodCall, Flags: dbus.FlagNoAutoStart | dbus.FlagAllowInteractiveAuthorization,
		Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldPath: dbus.MakeVariant(tx), dbus.FieldInterface: dbus.MakeVariant(pkTxIface),
			dbus.FieldMember: dbus.MakeVariant("SetHints"), dbus.FieldDestination: dbus.MakeVariant(e.name),
			dbus.FieldSignature: dbus.MakeVariant(dbus.SignatureOf([]string{})),
		}, Body: []any{[]string{"locale=C"}}}
	if r := <-c.Send(hints, make(chan *dbus.Call, 1)).Done; r.Err != nil {
		t.Fatal(r.Err)
	}
	if call := obj.Go(pkTxIface+".SetHints", dbus.FlagNoReplyExpected, nil, []string{"background=true"}); call.Err != nil {
		t.Fatal(call.Err)
	}
	if err := obj.Call(pkTxIface+".GetUpdates", 0, uint64(2)).Err; err != nil {
		t.Fatal(err)
	}
	var got []dbus.Flags
	for _, m := range e.pk.received("") {
		if m.Path == string(tx) {
			got = append(got, m.Flags)
		}
	}
	want := []dbus.Flags{dbus.FlagNoAutoStart | dbus.FlagAllowInteractiveAuthorization, dbus.FlagNoReplyExpected, 0}
	if !slices.Equal(got, want) {
		t.Errorf("PackageKit saw flags %v, want %v", got, want)
	}
}

// pingable is a link that answers pings while answering is set, and
// otherwise lets them time out, like an exec stream whose incusd died
// behind incus-user.
type pingable struct {
	io.ReadWriteCloser
	answering *atomic.Bool
	pings     *atomic.Int32
}

func (p pingable) Ping(ctx context.Context) error {
	p.pings.Add(1)
	if p.answering.Load() {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestForwarderPingsABusyLinkOnly: a link that can be pinged is pinged
// while a transaction is open, not while idle; when it stops answering,
// clients learn within two seconds (the name bounces) and the next call
// dials again.
func TestForwarderPingsABusyLinkOnly(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	var answering atomic.Bool
	var pings atomic.Int32
	answering.Store(true)
	var e *fwdEnv
	e = newEnv(t, func(ec *envConfig) {
		ec.fake = func(f *fakePK) { f.holdRuns = hold }
		ec.config = func(cfg *ForwarderConfig) {
			cfg.Dial = func(ctx context.Context) (io.ReadWriteCloser, error) {
				rwc, err := e.dialContainer(ctx)
				if err != nil {
					return nil, err
				}
				return pingable{rwc, &answering, &pings}, nil
			}
		}
	})
	t.Cleanup(func() { close(hold) })
	c := e.client()
	if err := e.daemon(c).Call(propsIface+".GetAll", 0, pkIface).Err; err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * linkCheckEvery) // idle: no transaction, no call waiting
	if n := pings.Load(); n != 0 {
		t.Errorf("an idle link was pinged %d times", n)
	}

	owner := ownerOf(t, c, e.name)
	owners := watchOwner(t, c, e.name)
	tx := e.createTx(c)
	if err := c.Object(e.name, tx).Call(pkTxIface+".GetUpdates", 0, uint64(2)).Err; err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the open transaction's link to be pinged", func() bool { return pings.Load() >= 2 })
	if !e.fwd.Connected() {
		t.Fatal("a link that answers pings was dropped")
	}
	answering.Store(false)
	stopped := time.Now()
	expectBounce(t, owners, e.name, owner, linkCheckEvery+linkCheckTimeout+time.Second)
	t.Logf("the name bounced %v after the link stopped answering", time.Since(stopped).Round(time.Millisecond))
	answering.Store(true)
	if err := e.daemon(c).Call(propsIface+".GetAll", 0, pkIface).Err; err != nil {
		t.Errorf("call after the dead link was dropped: %v", err)
	}
	if n := e.dials.Load(); n != 2 {
		t.Errorf("dialled %d times, want 2", n)
	}
}
