//go:build e2e

package main

// The update sources follow the containers: a name per container with
// PackageKit, taken and released as containers come and go (Incus events),
// kept while a container is stopped, which a call starts on demand and
// IdleStop stops again; ListUpdateSources says which container has no
// PackageKit and why.

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/testbed"
)

func TestNamesFollowContainers(t *testing.T) {
	t.Parallel()
	s := pkSession(t, "")
	conn := busConn(t, s)
	c := testbed.Name("pkname")
	name, err := bridge.PackageKitBusName(c)
	if err != nil {
		t.Fatal(err)
	}
	testbed.CleanupContainer(t, c)
	// Activate kapsuled before watching, so that the name can only come
	// from the container's creation.
	var version string
	if err := conn.Object(bridge.ServiceName, bridge.ManagerPath).Call(propsIface+".Get", 0, bridge.ManagerInterface, "Version").Store(&version); err != nil {
		t.Fatal(err)
	}
	changes := watchName(t, s, name)
	if o := nameOwner(t, conn, name); o != "" {
		t.Fatalf("%s owned by %s before the container exists", name, o)
	}

	s.Kap(t, "create", c, "--quiet")
	created := time.Now()
	ch, ok := nextOwnerChange(changes, 5*time.Second)
	if !ok || ch.old != "" || ch.new == "" {
		t.Fatalf("after kap create: NameOwnerChanged %+v (%v), want %s taken", ch, ok, name)
	}
	t.Logf("%s owned %v before kap create returned", name, created.Sub(ch.at).Round(time.Millisecond))
	if o := nameOwner(t, conn, name); o != ch.new {
		t.Errorf("owner %q, want %q", o, ch.new)
	}

	// Deleted behind Kapsule's back: only Incus' event can tell kapsuled.
	testbed.Incus(t, "delete", "--force", c)
	deleted := time.Now()
	gone, ok := nextOwnerChange(changes, 5*time.Second)
	if !ok || gone.old != ch.new || gone.new != "" {
		t.Fatalf("after incus delete: NameOwnerChanged %+v (%v), want %s released", gone, ok, name)
	}
	t.Logf("%s released %v after incus delete returned", name, gone.at.Sub(deleted).Round(time.Millisecond))
	var srcs []bridge.UpdateSource
	if err := conn.Object(bridge.ServiceName, bridge.ManagerPath).Call(bridge.ManagerInterface+".ListUpdateSources", 0).Store(&srcs); err != nil {
		t.Fatal(err)
	}
	for _, src := range srcs {
		if src.Container == c {
			t.Errorf("ListUpdateSources still lists %+v", src)
		}
	}
	if extra, ok := nextOwnerChange(changes, time.Second); ok {
		t.Errorf("unexpected NameOwnerChanged %+v", extra)
	}
}

func TestOnDemandStartAndIdleStop(t *testing.T) {
	t.Parallel()
	const idle = 5 * time.Second
	s := pkSession(t, fmt.Sprintf("[Bridge]\nIdleStop=%s\n", idle))
	c, name := pkContainer(t, s, "pkidle")
	conn := busConn(t, s)
	owner := waitOwned(t, conn, name, 10*time.Second)
	changes := watchName(t, s, name)
	backend := func(t *testing.T) time.Time {
		t.Helper()
		var v dbus.Variant
		if err := conn.Object(name, pkDaemonPath).Call(propsIface+".Get", 0, pkIface, "BackendName").Store(&v); err != nil || v.Value() != "apt" {
			t.Fatalf("Get BackendName = %v, %v", v.Value(), err)
		}
		return time.Now()
	}
	// stays checks that the container keeps running well past the idle
	// period.
	stays := func(t *testing.T) {
		t.Helper()
		deadline := time.Now().Add(3 * idle)
		for time.Now().Before(deadline) {
			if st := containerStatus(t, c); st != "Running" {
				t.Fatalf("container %s %v before the end of the wait; the user started it", st, time.Until(deadline).Round(time.Second))
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	kapStop := func(t *testing.T) {
		t.Helper()
		s.Kap(t, "stop", c)
		if st := containerStatus(t, c); st != "Stopped" {
			t.Fatalf("container %s after kap stop", st)
		}
	}

	t.Run("a stopped container keeps its name and a call starts it", func(t *testing.T) {
		kapStop(t)
		if o := nameOwner(t, conn, name); o != owner {
			t.Fatalf("owner of %s after the stop: %q, want %q", name, o, owner)
		}
		last := backend(t)
		if st := containerStatus(t, c); st != "Running" {
			t.Fatalf("container %s after a call to its PackageKit, want Running", st)
		}

		t.Run("and stops it again once idle", func(t *testing.T) {
			deadline := last.Add(idle + 30*time.Second)
			for containerStatus(t, c) != "Stopped" {
				if time.Now().After(deadline) {
					t.Fatalf("still running %v after the last call (IdleStop=%v)", time.Since(last).Round(time.Second), idle)
				}
				time.Sleep(200 * time.Millisecond)
			}
			after := time.Since(last)
			t.Logf("stopped %v after the last call", after.Round(100*time.Millisecond))
			if after < idle {
				t.Errorf("stopped %v after the last call, before IdleStop=%v", after, idle)
			}
			if o := nameOwner(t, conn, name); o != owner {
				t.Errorf("owner of %s after the idle stop: %q, want %q", name, o, owner)
			}
		})
	})

	t.Run("never a container the user started", func(t *testing.T) {
		t.Run("with kap start", func(t *testing.T) {
			if st := containerStatus(t, c); st != "Stopped" {
				kapStop(t)
			}
			s.Kap(t, "start", c)
			backend(t)
			stays(t)
		})
		t.Run("with kap start while started on demand", func(t *testing.T) {
			kapStop(t)
			backend(t)
			s.Kap(t, "start", c)
			stays(t)
		})
		t.Run("with incus, after an on-demand start", func(t *testing.T) {
			kapStop(t)
			backend(t) // started on demand...
			testbed.Incus(t, "stop", "--force", c)
			testbed.Incus(t, "start", c) // ...then stopped and started by the user, outside Kapsule
			backend(t)
			stays(t)
		})
	})

	// None of this moved the name: it stayed with the same owner.
	for {
		select {
		case ch := <-changes:
			t.Errorf("NameOwnerChanged %+v: the name should stay put while the container starts and stops", ch)
			continue
		default:
		}
		break
	}
	if o := nameOwner(t, conn, name); o != owner {
		t.Errorf("owner of %s at the end: %q, want %q", name, o, owner)
	}
}

func TestUpdateSources(t *testing.T) {
	t.Parallel()
	s := pkSession(t, "")
	with, withName := pkContainer(t, s, "src-pk")
	without, withoutName := pkContainer(t, s, "src-nopk")
	conn := busConn(t, s)
	mgr := conn.Object(bridge.ServiceName, bridge.ManagerPath)
	sources := func(t *testing.T) map[string]bridge.UpdateSource {
		t.Helper()
		var list []bridge.UpdateSource
		if err := mgr.Call(bridge.ManagerInterface+".ListUpdateSources", 0).Store(&list); err != nil {
			t.Fatal(err)
		}
		if !sort.SliceIsSorted(list, func(i, j int) bool { return list[i].Container < list[j].Container }) {
			t.Errorf("ListUpdateSources is not sorted by container: %+v", list)
		}
		out := map[string]bridge.UpdateSource{}
		for _, src := range list {
			out[src.Container] = src
		}
		return out
	}
	waitSource := func(t *testing.T, c string, want bridge.UpdateSource) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			got := sources(t)[c]
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("source %+v, want %+v", got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	ready := func(c, bus string) bridge.UpdateSource {
		return bridge.UpdateSource{Container: c, BusName: bus, PackageKit: true, State: bridge.SourceReady}
	}
	waitSource(t, with, ready(with, withName))
	waitSource(t, without, ready(without, withoutName))
	waitOwned(t, conn, withoutName, 10*time.Second)

	changed := make(chan *dbus.Signal, 16)
	if err := conn.AddMatchSignal(dbus.WithMatchInterface(bridge.ManagerInterface), dbus.WithMatchMember("UpdateSourcesChanged")); err != nil {
		t.Fatal(err)
	}
	conn.Signal(changed)
	names := watchName(t, s, withoutName)

	// PackageKit removed from one container; a change of its configuration
	// (an Incus instance-updated event) makes kapsuled look again.
	const service = "/usr/share/dbus-1/system-services/org.freedesktop.PackageKit.service"
	testbed.Incus(t, "exec", without, "--", "mv", service, "/root/pk.service")
	testbed.Incus(t, "config", "set", without, "user.kapsule-test", "no-packagekit")
	waitSource(t, without, bridge.UpdateSource{Container: without, State: bridge.SourceUnavailable,
		Reason: "PackageKit is not installed in the container (install the packagekit package there)"})
	if ch, ok := nextOwnerChange(names, 5*time.Second); !ok || ch.new != "" {
		t.Errorf("NameOwnerChanged %+v (%v), want %s released", ch, ok, withoutName)
	}
	if o := nameOwner(t, conn, withoutName); o != "" {
		t.Errorf("%s is owned by %s although the container has no PackageKit", withoutName, o)
	}
	if err := conn.Object(withoutName, pkDaemonPath).Call(propsIface+".Get", 0, pkIface, "BackendName").Err; dbusErrorName(err) != "org.freedesktop.DBus.Error.ServiceUnknown" {
		t.Errorf("a call to %s: %v, want ServiceUnknown", withoutName, err)
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Error("no UpdateSourcesChanged")
	}
	// The other container is untouched.
	if got := sources(t)[with]; got != ready(with, withName) {
		t.Errorf("source %+v, want %+v", got, ready(with, withName))
	}

	// PackageKit back: the source comes back.
	testbed.Incus(t, "exec", without, "--", "mv", "/root/pk.service", service)
	testbed.Incus(t, "config", "set", without, "user.kapsule-test", "packagekit")
	waitSource(t, without, ready(without, withoutName))
	owner := waitOwned(t, conn, withoutName, 10*time.Second)
	if ch, ok := nextOwnerChange(names, 5*time.Second); !ok || ch.old != "" || ch.new != owner {
		t.Errorf("NameOwnerChanged %+v (%v), want %s taken by %s", ch, ok, withoutName, owner)
	}
	var v dbus.Variant
	if err := conn.Object(withoutName, pkDaemonPath).Call(propsIface+".Get", 0, pkIface, "BackendName").Store(&v); err != nil || v.Value() != "apt" {
		t.Errorf("Get BackendName = %v, %v", v.Value(), err)
	}
}
