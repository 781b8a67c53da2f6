//go:build e2e

package main

// Each container's PackageKit on the session bus, as
// org.kde.kapsule.PackageKit.<name>, driven by godbus clients the way
// Discover and Kapsule's own tools use it: real kapsuled (D-Bus activated),
// real containers, real PackageKit.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/packagekit"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// txSignals runs GetUpdates on a fresh transaction of dest on conn, with
// the given hints, and returns every signal of the transaction in order,
// up to and including Destroy (PackageKit emits it 5 s after Finished).
func txSignals(t *testing.T, conn *dbus.Conn, dest string, hints ...string) []*dbus.Signal {
	t.Helper()
	var tx dbus.ObjectPath
	if err := conn.Object(dest, pkDaemonPath).Call(pkIface+".CreateTransaction", 0).Store(&tx); err != nil {
		t.Fatalf("CreateTransaction on %s: %v", dest, err)
	}
	match := []dbus.MatchOption{dbus.WithMatchSender(dest), dbus.WithMatchObjectPath(tx)}
	if err := conn.AddMatchSignal(match...); err != nil {
		t.Fatal(err)
	}
	defer conn.RemoveMatchSignal(match...)
	sigs := make(chan *dbus.Signal, 256)
	conn.Signal(sigs)
	defer conn.RemoveSignal(sigs)
	obj := conn.Object(dest, tx)
	if len(hints) > 0 {
		if err := obj.Call(pkTxIface+".SetHints", 0, hints).Err; err != nil {
			t.Fatalf("SetHints: %v", err)
		}
	}
	if err := obj.Call(pkTxIface+".GetUpdates", 0, filterNone).Err; err != nil {
		t.Fatalf("GetUpdates: %v", err)
	}
	var got []*dbus.Signal
	timeout := time.After(60 * time.Second)
	for {
		select {
		case sig := <-sigs:
			if sig.Path != tx {
				continue
			}
			got = append(got, sig)
			if sig.Name == pkTxIface+".Destroy" {
				return got
			}
		case <-timeout:
			t.Fatalf("transaction %s on %s: no Destroy within 60 s; got %d signals", tx, dest, len(got))
		}
	}
}

// members lists the signals' members, leaving out progress
// (PropertiesChanged, ItemProgress): how PackageKit batches those depends
// on timing.
func members(sigs []*dbus.Signal) []string {
	var out []string
	for _, s := range sigs {
		switch s.Name {
		case propsIface + ".PropertiesChanged", pkTxIface + ".ItemProgress":
			continue
		}
		out = append(out, strings.TrimPrefix(s.Name, pkTxIface+"."))
	}
	return out
}

func TestPackageKitOnTheSessionBus(t *testing.T) {
	t.Parallel()
	s := pkSession(t, "")
	c, name := pkContainer(t, s, "pkbus")
	conn := busConn(t, s)
	owner := waitOwned(t, conn, name, 10*time.Second)
	// The first call comes right after kap create, while the container may
	// still be booting.
	var viaBus map[string]dbus.Variant
	if err := conn.Object(name, pkDaemonPath).Call(propsIface+".GetAll", 0, pkIface).Store(&viaBus); err != nil {
		t.Fatalf("GetAll right after kap create: %v", err)
	}
	direct := directConn(t, c)

	t.Run("daemon properties", func(t *testing.T) {
		var viaDirect map[string]dbus.Variant
		if err := direct.Object(packagekit.DefaultDestination, pkDaemonPath).Call(propsIface+".GetAll", 0, pkIface).Store(&viaDirect); err != nil {
			t.Fatal(err)
		}
		keys := slices.Sorted(maps.Keys(viaBus))
		want := []string{"BackendAuthor", "BackendDescription", "BackendName", "DistroId", "Filters", "Groups", "Locked",
			"MimeTypes", "NetworkState", "Roles", "VersionMajor", "VersionMicro", "VersionMinor"}
		if !slices.Equal(keys, want) {
			t.Errorf("properties %v, want %v", keys, want)
		}
		if v := viaBus["BackendName"].Value(); v != "apt" {
			t.Errorf("BackendName = %v, want apt", v)
		}
		if v := viaBus["NetworkState"].Value(); v != uint32(packagekit.NetworkOnline) {
			t.Errorf("NetworkState = %v, want %d (online)", v, packagekit.NetworkOnline)
		}
		if !reflect.DeepEqual(viaBus, viaDirect) {
			t.Errorf("GetAll through the session bus differs from GetAll on the container's bus:\n%v\n%v", viaBus, viaDirect)
		}
		var backend dbus.Variant
		if err := conn.Object(name, pkDaemonPath).Call(propsIface+".Get", 0, pkIface, "BackendName").Store(&backend); err != nil || backend.Value() != "apt" {
			t.Errorf("Get BackendName = %v, %v", backend.Value(), err)
		}
	})

	t.Run("transaction signals in order, as on the container's bus", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			hints   []string
			members []string
		}{
			{"singular", nil, []string{"Package", "Finished", "Destroy"}},
			{"plural", []string{packagekit.HintSupportsPluralSignals}, []string{"Packages", "Finished", "Destroy"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				sigs := txSignals(t, conn, name, tc.hints...)
				if got := members(sigs); !slices.Equal(got, tc.members) {
					t.Errorf("signals %v, want %v", got, tc.members)
				}
				if got := members(txSignals(t, direct, packagekit.DefaultDestination, tc.hints...)); !slices.Equal(got, tc.members) {
					t.Errorf("directly on the container's bus: signals %v, want %v", got, tc.members)
				}
				changed := 0
				finished := false
				for _, sig := range sigs {
					if sig.Sender != owner {
						t.Errorf("%s from %s, want %s (the owner of %s)", sig.Name, sig.Sender, owner, name)
					}
					switch sig.Name {
					case propsIface + ".PropertiesChanged":
						if len(sig.Body) != 3 || sig.Body[0] != pkTxIface {
							t.Errorf("PropertiesChanged %v", sig.Body)
							continue
						}
						if _, ok := sig.Body[1].(map[string]dbus.Variant)["Status"]; ok && !finished {
							changed++
						}
					case pkTxIface + ".Package":
						if len(sig.Body) != 3 || sig.Body[1] != fixtureUpdate {
							t.Errorf("Package %v, want %s", sig.Body, fixtureUpdate)
						}
					case pkTxIface + ".Packages":
						var pkgs []struct {
							Info    uint32
							ID      string
							Summary string
						}
						if err := dbus.Store(sig.Body, &pkgs); err != nil || len(pkgs) != 1 || pkgs[0].ID != fixtureUpdate {
							t.Errorf("Packages %v (%v), want %s", sig.Body, err, fixtureUpdate)
						}
					case pkTxIface + ".Finished":
						finished = true
						if len(sig.Body) != 2 || sig.Body[0] != uint32(packagekit.ExitSuccess) {
							t.Errorf("Finished %v, want success", sig.Body)
						}
					}
				}
				if changed == 0 {
					t.Error("no PropertiesChanged with the transaction's Status before Finished")
				}
			})
		}
	})

	t.Run("a passive client sees the transaction list and reads the role", func(t *testing.T) {
		passive := busConn(t, s)
		match := []dbus.MatchOption{dbus.WithMatchSender(name), dbus.WithMatchObjectPath(pkDaemonPath),
			dbus.WithMatchInterface(pkIface), dbus.WithMatchMember("TransactionListChanged")}
		if err := passive.AddMatchSignal(match...); err != nil {
			t.Fatal(err)
		}
		sigs := make(chan *dbus.Signal, 64)
		passive.Signal(sigs)
		// Discover's notifier: on every TransactionListChanged, read the
		// Role of each transaction listed.
		type seen struct {
			list  []string
			roles map[string]uint32
		}
		seenCh := make(chan seen, 64)
		go func() {
			for sig := range sigs {
				if sig.Name != pkIface+".TransactionListChanged" || len(sig.Body) != 1 {
					continue
				}
				list, _ := sig.Body[0].([]string)
				roles := map[string]uint32{}
				for _, p := range list {
					var role dbus.Variant
					if err := passive.Object(name, dbus.ObjectPath(p)).Call(propsIface+".Get", 0, pkTxIface, "Role").Store(&role); err == nil {
						roles[p], _ = role.Value().(uint32)
					}
				}
				seenCh <- seen{list, roles}
			}
		}()
		next := func(what string) seen {
			t.Helper()
			select {
			case s := <-seenCh:
				return s
			case <-time.After(20 * time.Second):
				t.Fatalf("the passive client saw no TransactionListChanged %s", what)
			}
			return seen{}
		}

		// PackageKit lists a transaction once it has its role (the action
		// method was called), and drops it from the list when it finished.
		var tx dbus.ObjectPath
		if err := conn.Object(name, pkDaemonPath).Call(pkIface+".CreateTransaction", 0).Store(&tx); err != nil {
			t.Fatal(err)
		}
		if err := conn.Object(name, tx).Call(pkTxIface+".GetUpdates", 0, filterNone).Err; err != nil {
			t.Fatal(err)
		}
		listed := next("after GetUpdates")
		if !slices.Contains(listed.list, string(tx)) {
			t.Fatalf("TransactionListChanged %v, want %s listed", listed.list, tx)
		}
		if r, ok := listed.roles[string(tx)]; !ok || r != uint32(packagekit.RoleGetUpdates) {
			t.Errorf("the passive client read Role %d (read: %v), want %d (get-updates)", r, ok, packagekit.RoleGetUpdates)
		}
		for gone := false; !gone; {
			gone = !slices.Contains(next("dropping the finished transaction").list, string(tx))
		}
	})

	t.Run("calls outside PackageKit are refused", func(t *testing.T) {
		for _, tc := range []struct {
			path   dbus.ObjectPath
			method string
			args   []any
		}{
			{"/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager.ListUnits", nil},
			{"/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager.StartUnit", []any{"packagekit.service", "replace"}},
			{pkDaemonPath, "org.freedesktop.systemd1.Manager.ListUnits", nil},
			{pkDaemonPath, "org.freedesktop.login1.Manager.PowerOff", []any{false}},
			{pkDaemonPath, propsIface + ".Set", []any{pkIface, "Locked", dbus.MakeVariant(true)}},
		} {
			err := conn.Object(name, tc.path).Call(tc.method, 0, tc.args...).Err
			if got := dbusErrorName(err); got != "org.freedesktop.DBus.Error.AccessDenied" {
				t.Errorf("%s on %s: %v, want org.freedesktop.DBus.Error.AccessDenied", tc.method, tc.path, err)
			}
		}
		// The refusals do not disturb the source.
		var v dbus.Variant
		if err := conn.Object(name, pkDaemonPath).Call(propsIface+".Get", 0, pkIface, "BackendName").Store(&v); err != nil || v.Value() != "apt" {
			t.Errorf("Get BackendName after the refusals = %v, %v", v.Value(), err)
		}
	})
}

func TestContainerStoppedUnderATransaction(t *testing.T) {
	t.Parallel()
	s := pkSession(t, "")
	c, name := pkContainer(t, s, "pkstop")
	conn := busConn(t, s)
	waitOwned(t, conn, name, 10*time.Second)
	pk := pkClient(t, conn, name)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	res, err := pk.Run(ctx, packagekit.Resolve(packagekit.BitfieldOf(packagekit.FilterNotInstalled), []string{fixtureExtra}))
	if err != nil || len(res.Packages) == 0 {
		t.Fatalf("resolve %s: %+v, %v", fixtureExtra, res, err)
	}
	extra := res.Packages[0].ID
	holdDpkgLock(t, c)
	owner := nameOwner(t, conn, name)
	changes := watchName(t, s, name)

	// An install waits for dpkg's lock; meanwhile the container is killed.
	// A client left hanging would see this context end instead.
	hang, cancelHang := context.WithTimeout(ctx, time.Minute)
	defer cancelHang()
	var stopped time.Time
	stopErr := make(chan error, 1)
	var once sync.Once
	_, err = pk.Run(hang, packagekit.InstallPackages(0, []packagekit.PackageID{extra}), packagekit.WithProgress(func(p packagekit.Progress) {
		if p.Status == packagekit.StatusWaitingForLock {
			once.Do(func() {
				go func() {
					_, err := testbed.IncusErr("stop", "--force", c)
					stopped = time.Now()
					stopErr <- err
				}()
			})
		}
	}))
	returned := time.Now()
	if err := <-stopErr; err != nil {
		t.Fatalf("incus stop --force: %v", err)
	}
	if err == nil {
		t.Fatal("the install finished although the container was stopped under it")
	}
	t.Logf("Run returned %v after incus stop --force returned: %v", returned.Sub(stopped).Round(time.Millisecond), err)
	if d := returned.Sub(stopped); d > 2*time.Second {
		t.Errorf("the client learnt of the stop %v after it, want within 2 s", d.Round(time.Millisecond))
	}
	if !errors.Is(err, packagekit.ErrDaemonVanished) {
		t.Errorf("Run = %v, want the daemon gone (name bounce, NoReply)", err)
	}
	// The forwarder bounced the name: clients that watch the owner (as
	// PackageKit-Qt and packagekit-glib do) learn that the daemon went.
	for _, want := range []ownerChange{{old: owner}, {new: owner}} {
		ch, ok := nextOwnerChange(changes, 2*time.Second)
		if !ok || ch.old != want.old || ch.new != want.new {
			t.Errorf("NameOwnerChanged %+v (%v), want %q -> %q", ch, ok, want.old, want.new)
		}
	}
	if st := containerStatus(t, c); st != "Stopped" {
		t.Fatalf("container %s after incus stop --force", st)
	}

	// The next call connects again, starting the container on demand.
	props, err := pk.Properties(ctx)
	if err != nil || props.BackendName != "apt" {
		t.Fatalf("Properties after the stop: %+v, %v", props, err)
	}
	if st := containerStatus(t, c); st != "Running" {
		t.Errorf("container %s after a call to its PackageKit, want Running", st)
	}
	res, err = pk.Run(ctx, packagekit.GetUpdates(packagekit.NoFilter))
	if err != nil || len(res.Packages) != 1 || res.Packages[0].ID != fixtureUpdate {
		t.Errorf("GetUpdates after the restart: %+v, %v", res, err)
	}
	if got := dpkgStatus(t, s, c, fixtureExtra); got != "" {
		t.Errorf("dpkg: %s is %q after the interrupted install", fixtureExtra, got)
	}
}

func TestSeveralClientsAtOnce(t *testing.T) {
	t.Parallel()
	s := pkSession(t, "")
	// Two containers that answer differently: one with the pending
	// update, one where it is applied already, so that an answer from the
	// wrong container shows.
	type target struct {
		container, name string
		updates         []string
	}
	pending, _ := pkContainer(t, s, "multi-pending")
	current, _ := pkContainer(t, s, "multi-current")
	testbed.Incus(t, "exec", current, "--", "apt-get", "install", "--yes", "--quiet", fixture)
	if got := dpkgStatus(t, s, current, fixture); got != "installed 1.1" {
		t.Fatalf("dpkg after apt-get install in %s: %q", current, got)
	}
	var targets []target
	for c, updates := range map[string][]string{pending: {fixtureUpdate}, current: nil} {
		name, _ := bridge.PackageKitBusName(c)
		targets = append(targets, target{c, name, updates})
	}

	const clients, rounds = 4, 3
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, clients*len(targets)*rounds*2)
	for i := range clients {
		conn := busConn(t, s)
		for _, tg := range targets {
			waitOwned(t, conn, tg.name, 10*time.Second)
			pk := pkClient(t, conn, tg.name)
			for r := range rounds {
				wg.Go(func() {
					res, err := pk.Run(ctx, packagekit.GetUpdates(packagekit.NoFilter))
					if err != nil {
						errs <- fmt.Errorf("client %d, %s, round %d: %w", i, tg.container, r, err)
						return
					}
					var got []string
					for _, p := range res.Packages {
						got = append(got, string(p.ID))
					}
					if !slices.Equal(got, tg.updates) {
						errs <- fmt.Errorf("client %d, %s, round %d: updates %q, want %q", i, tg.container, r, got, tg.updates)
					}
				})
				wg.Go(func() {
					var v dbus.Variant
					if err := conn.Object(tg.name, pkDaemonPath).Call(propsIface+".Get", 0, pkIface, "BackendName").Store(&v); err != nil || v.Value() != "apt" {
						errs <- fmt.Errorf("client %d, %s: Get BackendName = %v, %v", i, tg.container, v.Value(), err)
					}
				})
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
