//go:build stress

package stress

// Faults around kapsuled: incusd restarted under a PackageKit transaction,
// a container deleted behind Kapsule's back under one, the session bus
// lost under an operation.

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/packagekit"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// waitingInstall starts, through pk, an install of the fixture's extra
// package that waits for dpkg's lock (held in the container), and returns
// once PackageKit says it waits; the result arrives on the channel, and
// the returned function releases the lock.
func waitingInstall(t *testing.T, pk *packagekit.Client, project, c string) (<-chan error, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	res, err := pk.Run(ctx, packagekit.Resolve(packagekit.BitfieldOf(packagekit.FilterNotInstalled), []string{fixtureExtra}))
	if err != nil || len(res.Packages) == 0 {
		t.Fatalf("resolve %s: %+v, %v", fixtureExtra, res, err)
	}
	extra := res.Packages[0].ID
	release := holdDpkgLock(t, project, c)
	waiting := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var closed bool
		_, err := pk.Run(ctx, packagekit.InstallPackages(0, []packagekit.PackageID{extra}), packagekit.WithProgress(func(p packagekit.Progress) {
			if p.Status == packagekit.StatusWaitingForLock && !closed {
				closed = true
				close(waiting)
			}
		}))
		done <- err
	}()
	select {
	case <-waiting:
	case err := <-done:
		t.Fatalf("the install ended before waiting for dpkg's lock: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the install did not wait for dpkg's lock within a minute")
	}
	return done, release
}

// incusdPID is the pid of the incusd daemon, as it says itself.
func incusdPID(t *testing.T) int {
	t.Helper()
	var srv struct {
		Environment struct {
			ServerPID int `json:"server_pid"`
		} `json:"environment"`
	}
	if err := json.Unmarshal([]byte(testbed.Incus(t, "query", "/1.0")), &srv); err != nil || srv.Environment.ServerPID == 0 {
		t.Fatalf("incusd's pid: %v", err)
	}
	return srv.Environment.ServerPID
}

// startIncusd runs testbed/incusd.sh, which starts incusd and returns once
// it answers.
func startIncusd(t testing.TB) error {
	t.Helper()
	script, err := filepath.Abs("../testbed/incusd.sh")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script)
	cmd.Env = append(os.Environ(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return errors.New(strings.TrimSpace(string(out)))
	}
	return nil
}

// TestIncusdRestartUnderATransaction kills incusd while a client's
// transaction runs through the bridge, then starts it again with
// testbed/incusd.sh. The client gets its answer at once (an error or the
// name bounce, never a hang), and the same bus name serves a new call
// within 5 s of incusd answering again, from the same kapsuled.
//
// Not parallel: while incusd is down nothing else of this package runs.
func TestIncusdRestartUnderATransaction(t *testing.T) {
	_, s := session(t, "")
	incusdRestartUnderATransaction(t, s)
}

// TestRestrictedIncusdRestartUnderATransaction is the same for the
// restricted user, whose kapsuled reaches incusd through incus-user's
// socket and project: incus-user outlives the restart.
func TestRestrictedIncusdRestartUnderATransaction(t *testing.T) {
	bed := testbed.RequireRoot(t)
	r := bed.Restricted
	if r == nil {
		testbed.Unavailable(t, "the test bed has no restricted user; run 'make testbed' as root")
	}
	s := r.NewUserSession(t, "[Containers]\nDefaultImage="+r.Image+"\n[Updates]\nStartupDelay=24h\n")
	incusdRestartUnderATransaction(t, s)
}

func incusdRestartUnderATransaction(t *testing.T, s *testbed.UserSession) {
	ic := incusClientIn(t, s.Bed.Project)
	conn := s.Connect(t)
	c := create(t, s, "incusd")
	name := busName(t, c)
	waitOwned(t, conn, name, 10*time.Second)
	pid := activate(t, s, conn)
	pk := pkClient(t, conn, name)
	done, release := waitingInstall(t, pk, s.Bed.Project, c)

	old := incusdPID(t)
	t.Cleanup(func() {
		if _, err := testbed.IncusErr("query", "/1.0"); err != nil {
			t.Logf("incusd is not answering at the end of the test; starting it")
			if err := startIncusd(t); err != nil {
				t.Errorf("start incusd: %v", err)
			}
		}
	})
	kill9(t, old)
	killed := time.Now()
	select {
	case err := <-done:
		d := time.Since(killed)
		t.Logf("the waiting transaction ended %v after incusd was killed: %v", d.Round(time.Millisecond), err)
		if err == nil {
			t.Error("the install succeeded although incusd died under it")
		}
		if d > 2*time.Second {
			t.Errorf("the client learnt of it after %v, want within 2 s", d.Round(time.Millisecond))
		}
	case <-time.After(30 * time.Second):
		t.Error("the client still waits 30 s after incusd was killed")
	}
	if err := startIncusd(t); err != nil {
		t.Fatalf("testbed/incusd.sh: %v", err)
	}
	up := time.Now()
	t.Logf("incusd answers again %v after it was killed (new pid %d)", up.Sub(killed).Round(time.Millisecond), incusdPID(t))

	// The same name serves again, without a restart of kapsuled: a call
	// answered by PackageKit in the container, through a link made anew
	// through the new incusd.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	for attempt := 1; ; attempt++ {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		var v dbus.Variant
		err = conn.Object(name, pkDaemonPath).CallWithContext(cctx, propsIface+".Get", 0, pkIface, "BackendName").Store(&v)
		ccancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		t.Logf("call %d, %v after incusd is back: %v", attempt, time.Since(up).Round(time.Millisecond), err)
		time.Sleep(100 * time.Millisecond)
	}
	recovered := time.Since(up)
	t.Logf("%s answered %v after incusd was back: %v", name, recovered.Round(time.Millisecond), err)
	if err != nil {
		t.Fatalf("the bridge after the restart: %v", err)
	}
	if recovered > 5*time.Second {
		t.Errorf("the bridge recovered %v after incusd was back, want within 5 s", recovered.Round(time.Millisecond))
	}
	// PackageKit's orphaned install still waits for dpkg's lock: once
	// that is released, whole transactions run again.
	release()
	res, err := pk.Run(ctx, packagekit.GetUpdates(packagekit.NoFilter))
	if err != nil || len(res.Packages) != 1 || res.Packages[0].ID != fixtureUpdate {
		t.Errorf("GetUpdates after the restart: %+v, %v", res, err)
	}
	if now := s.ServicePID(t, conn); now != pid {
		t.Errorf("kapsuled is pid %d after the restart, was %d", now, pid)
	}
	if st := status(t, ic, c); st != "Running" {
		t.Errorf("%s is %s after the restart", c, st)
	}
	// Incus's events are followed again: a container made now gets its
	// name.
	c2 := create(t, s, "incusd-after")
	waitOwned(t, conn, busName(t, c2), 10*time.Second)
}

// TestContainerDeletedUnderATransaction: `incus delete --force` behind
// Kapsule's back while a client's transaction waits in the container. The
// client gets its answer at once, the container's name leaves the bus,
// kap list no longer shows it, and every way to reach it says so.
func TestContainerDeletedUnderATransaction(t *testing.T) {
	t.Parallel()
	_, s := session(t, "")
	conn := s.Connect(t)
	c := create(t, s, "deleted")
	if r := s.Run(t, "", "kapsule-update", "check", c); r.Code != exitUpdatesAvailable {
		t.Fatalf("check: exit %d: %s", r.Code, r.Stderr)
	}
	name := busName(t, c)
	waitOwned(t, conn, name, 10*time.Second)
	pid := activate(t, s, conn)
	if err := conn.AddMatchSignal(dbus.WithMatchSender(busIface), dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, name)); err != nil {
		t.Fatal(err)
	}
	owners := make(chan *dbus.Signal, 16)
	conn.Signal(owners)
	pk := pkClient(t, conn, name)
	done, _ := waitingInstall(t, pk, "", c)

	start := time.Now()
	testbed.Incus(t, "delete", "--force", c)
	deleted := time.Now()
	t.Logf("incus delete --force took %v", deleted.Sub(start).Round(time.Millisecond))
	select {
	case err := <-done:
		t.Logf("the waiting transaction ended %v after incus delete returned: %v", time.Since(deleted).Round(time.Millisecond), err)
		if err == nil {
			t.Error("the install succeeded in a deleted container")
		}
	case <-time.After(2 * time.Second):
		t.Error("the client still waits 2 s after the container was deleted")
	}
	// The name may bounce first (transactions were open); then it goes.
	var changes []string
	deadline := time.After(5 * time.Second)
	for gone := false; !gone; {
		select {
		case sig := <-owners:
			if sig.Name != busIface+".NameOwnerChanged" || len(sig.Body) != 3 || sig.Body[0] != name {
				continue
			}
			changes = append(changes, sig.Body[1].(string)+"->"+sig.Body[2].(string))
			if sig.Body[2] == "" {
				var owner string
				err := conn.BusObject().Call(busIface+".GetNameOwner", 0, name).Store(&owner)
				gone = err != nil
			}
		case <-deadline:
			t.Fatalf("%s still owned 5 s after the container was deleted (owner changes %v)", name, changes)
		}
	}
	t.Logf("%s left the bus %v after incus delete returned (owner changes %v)", name, time.Since(deleted).Round(time.Millisecond), changes)
	time.Sleep(time.Second)
	var owner string
	if err := conn.BusObject().Call(busIface+".GetNameOwner", 0, name).Store(&owner); err == nil {
		t.Errorf("%s owned again by %s after the delete", name, owner)
	}

	if r := s.Kap(t, "list", "--json"); strings.Contains(r.Stdout, c) {
		t.Errorf("kap list still shows %s: %s", c, r.Stdout)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"kap", "run", c, "--", "true"}, 125},
		{[]string{"kap", "info", c}, 1},
		{[]string{"kap", "start", c}, 1},
		{[]string{"kapsule-update", "list", c}, 1},
		{[]string{"kapsule-update", "check", c}, 1},
		{[]string{"kapsule-update", "client", c, "--", "true"}, 125},
	} {
		r := s.Run(t, "", tc.args[0], tc.args[1:]...)
		if r.Code != tc.code || !strings.Contains(r.Stderr, `no container "`+c+`"`) {
			t.Errorf("%s: exit %d (want %d), stderr %q", strings.Join(tc.args, " "), r.Code, tc.code, r.Stderr)
		}
	}
	mgr := conn.Object(bridge.ServiceName, bridge.ManagerPath)
	var info bridge.ContainerTuple
	if err := mgr.Call(bridge.ManagerInterface+".GetContainerInfo", 0, c).Store(&info); errName(err) != bridge.ErrorNotFound {
		t.Errorf("GetContainerInfo: %v, want %s", err, bridge.ErrorNotFound)
	}
	var props map[string]dbus.Variant
	err := conn.Object(name, pkDaemonPath).Call(propsIface+".GetAll", 0, pkIface).Store(&props)
	if n := errName(err); n != "org.freedesktop.DBus.Error.ServiceUnknown" && n != "org.freedesktop.DBus.Error.NameHasNoOwner" {
		t.Errorf("a call on %s after the delete: %v", name, err)
	}
	eventually(t, c+"'s results to be dropped from the update state", func() bool {
		_, ok := readState(t, s).Containers[c]
		return !ok
	})
	if now := s.ServicePID(t, conn); now != pid {
		t.Errorf("kapsuled is pid %d after the delete, was %d", now, pid)
	}
}

// TestSessionBusLost kills the session's dbus-daemon while an update is
// being applied: kapsuled exits with status 0 within seconds, the waiting
// CLI says what happened, and the next session (same user directories)
// activates a fresh kapsuled that still knows the results.
func TestSessionBusLost(t *testing.T) {
	t.Parallel()
	bed, s := session(t, "")
	exitFile := recordExitStatus(t, s)
	conn := s.Connect(t)
	c := create(t, s, "buslost")
	if r := s.Run(t, "", "kapsule-update", "check", c); r.Code != exitUpdatesAvailable {
		t.Fatalf("check: exit %d: %s", r.Code, r.Stderr)
	}
	pid := activate(t, s, conn)
	release := holdDpkgLock(t, "", c)
	waiting := txStatus(t, conn, busName(t, c), packagekit.StatusWaitingForLock)
	apply := background(t, s, 2*time.Minute, "kapsule-update", "apply", "--yes", c)
	select {
	case <-waiting:
	case <-time.After(time.Minute):
		t.Fatal("the apply's transaction never waited for dpkg's lock")
	}

	killed := time.Now()
	s.KillBus()
	for alive(pid) && time.Since(killed) < 30*time.Second {
		time.Sleep(time.Millisecond)
	}
	if alive(pid) {
		t.Fatalf("kapsuled (%d) still running 30 s after its session bus died", pid)
	}
	d := time.Since(killed)
	var code []byte
	eventually(t, "kapsuled's exit status", func() bool {
		var err error
		code, err = os.ReadFile(exitFile)
		return err == nil && len(code) > 0
	})
	t.Logf("kapsuled exited %v after its session bus died: exit status %s", d.Round(time.Millisecond), strings.TrimSpace(string(code)))
	if strings.TrimSpace(string(code)) != "0" {
		t.Errorf("kapsuled ended with exit status %s, want 0", strings.TrimSpace(string(code)))
	}
	if d > 5*time.Second {
		t.Errorf("kapsuled took %v to exit, want within 5 s", d.Round(time.Millisecond))
	}
	r := apply()
	t.Logf("the waiting apply: exit %d, %q", r.Code, lastLine(r.Stderr))
	if r.Code == 0 || !strings.Contains(r.Stderr, "session bus") {
		t.Errorf("apply under a lost session bus: exit %d, stderr %q", r.Code, r.Stderr)
	}
	release()

	// The next login activates a fresh kapsuled, which still knows.
	s.Relogin(t)
	conn2 := s.Connect(t)
	rows := s.Run(t, "", "kapsule-update", "list", "--json", c)
	if rows.Code != 0 || !strings.Contains(rows.Stdout, `"to": "1.1"`) {
		t.Errorf("list in the next session: exit %d, %q, %q", rows.Code, rows.Stdout, rows.Stderr)
	}
	if r := s.Kap(t, "list", "--json"); !strings.Contains(r.Stdout, c) {
		t.Errorf("kap list in the next session does not show %s", c)
	}
	next := s.ServicePID(t, conn2)
	if next == 0 || next == pid || processUID(t, next) != bed.UID {
		t.Errorf("kapsuled of the next session: pid %d (was %d)", next, pid)
	}
}

// recordExitStatus makes the session's bus activate kapsuled through a
// shell that writes its exit status to the returned file: kapsuled is a
// child of the bus's babysitter process, not of the test.
func recordExitStatus(t *testing.T, s *testbed.UserSession) string {
	t.Helper()
	file := filepath.Join(s.Runtime, "kapsuled.status")
	script := filepath.Join(s.Runtime, "kapsuled-wrapper")
	body := "#!/bin/sh\n" + filepath.Join(s.Bin, "kapsuled") + " \"$@\"\necho $? >" + file + "\n"
	activation := "[D-BUS Service]\nName=org.kde.kapsule\nExec=" + script + "\n"
	for path, content := range map[string]string{script: body, filepath.Join(s.Bus.ServicesDir, "org.kde.kapsule.service"): activation} {
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, s.Bed.UID, s.Bed.GID); err != nil {
			t.Fatal(err)
		}
	}
	// The bus reads activation files again on its own, but later.
	conn, err := dbus.Connect(s.Bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.BusObject().Call(busIface+".ReloadConfig", 0).Err; err != nil {
		t.Fatalf("reload the bus's configuration: %v", err)
	}
	return file
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
