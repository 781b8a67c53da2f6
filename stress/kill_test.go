//go:build stress

package stress

// kapsuled killed with SIGKILL in the middle of its work: the next call
// activates a fresh one, the update state is intact, and no container is
// left running because of Kapsule.

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
	"invent.kde.org/kapsule/kapsule/packagekit"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// TestKillDuringACheck: a stopped container, a check that starts it,
// kapsuled killed mid-check: as soon as it has recorded that it starts the
// container (Incus still starting it), and once the container runs. The
// waiting CLI says so, the next CLI call activates a fresh kapsuled, which
// stops the container again; the results of earlier checks are kept.
func TestKillDuringACheck(t *testing.T) {
	t.Parallel()
	for name, killWhen := range map[string]func(t *testing.T, s *testbed.UserSession, ic *incus.Client, c string){
		"while starting": func(t *testing.T, s *testbed.UserSession, ic *incus.Client, c string) {
			eventually(t, c+" to be recorded as started on demand", func() bool { return slices.Contains(autoStarted(t, s), c) })
			t.Logf("killing kapsuled with %s %s", c, status(t, ic, c))
		},
		"while checking": func(t *testing.T, s *testbed.UserSession, ic *incus.Client, c string) {
			waitStatus(t, ic, c, "Running", time.Minute)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			killDuringACheck(t, killWhen)
		})
	}
}

func killDuringACheck(t *testing.T, killWhen func(t *testing.T, s *testbed.UserSession, ic *incus.Client, c string)) {
	_, s := session(t, "")
	ic := incusClient(t)
	conn := s.Connect(t)
	checked := create(t, s, "kill-checked")
	stopped := create(t, s, "kill-stopped")
	if r := s.Run(t, "", "kapsule-update", "check", checked); r.Code != exitUpdatesAvailable {
		t.Fatalf("first check: exit %d: %s", r.Code, r.Stderr)
	}
	before := readState(t, s).Containers[checked]
	if before.Count != 1 || before.LastCheck.IsZero() {
		t.Fatalf("state after the first check: %+v", before)
	}
	s.Kap(t, "stop", stopped)
	pid := activate(t, s, conn)
	if uid := processUID(t, pid); uid != s.Bed.UID {
		t.Fatalf("kapsuled runs as uid %d, want %d", uid, s.Bed.UID)
	}

	started := time.Now()
	wait := background(t, s, 2*time.Minute, "kapsule-update", "check", stopped)
	killWhen(t, s, ic, stopped)
	kill9(t, pid)
	killed := time.Now()
	t.Logf("killed kapsuled %v after the check of %s started", killed.Sub(started).Round(time.Millisecond), stopped)

	r := wait()
	t.Logf("the waiting check returned %v after the kill: exit %d, %q", time.Since(killed).Round(time.Millisecond), r.Code, strings.TrimSpace(r.Stderr))
	if r.Code == 0 || r.Code == exitUpdatesAvailable || !strings.Contains(r.Stderr, "kapsuled stopped before") {
		t.Errorf("check interrupted by a dead kapsuled: exit %d, stderr %q; want a failure that says kapsuled stopped", r.Code, r.Stderr)
	}

	// The next call finds a fresh kapsuled (the check's own summary
	// already activated one).
	st := s.Run(t, "", "kapsule-update", "status")
	if st.Code != 0 {
		t.Fatalf("status after the kill: exit %d: %s", st.Code, st.Stderr)
	}
	next := s.ServicePID(t, conn)
	if next == 0 || next == pid {
		t.Fatalf("kapsuled after the kill: pid %d (was %d)", next, pid)
	}
	// It stops what the killed one had started.
	// A start still under way at the kill is seen through: the record is
	// dropped once the container is stopped again (or never came up).
	eventually(t, "the record of containers started on demand to be empty", func() bool { return len(autoStarted(t, s)) == 0 })
	waitStatus(t, ic, stopped, "Stopped", 2*time.Minute)
	t.Logf("%s stopped again %v after the kill", stopped, time.Since(killed).Round(time.Millisecond))
	for _, l := range strings.Split(s.Bus.Output(), "\n") {
		if strings.Contains(l, "previous kapsuled") {
			t.Logf("kapsuled: %s", l)
		}
	}
	time.Sleep(2 * time.Second)
	if st := status(t, ic, stopped); st != "Stopped" {
		t.Errorf("%s is %s after being stopped again", stopped, st)
	}

	after := readState(t, s).Containers[checked]
	if after.Count != before.Count || !after.LastCheck.Equal(before.LastCheck) || len(after.Updates) != 1 || after.Updates[0].PackageID != fixtureUpdate {
		t.Errorf("earlier results changed by the kill: before %+v, after %+v", before, after)
	}
	if left := stateLeftovers(t, s); len(left) > 0 {
		t.Errorf("left in the state directory: %v", left)
	}
	if rows := s.Run(t, "", "kapsule-update", "list", "--json", checked); rows.Code != 0 || !strings.Contains(rows.Stdout, fixture) {
		t.Errorf("list after the kill: exit %d, %q, %q", rows.Code, rows.Stdout, rows.Stderr)
	}
}

// TestKillDuringAnApply: kapsuled killed while an update waits for dpkg's
// lock. The CLI says so; the next call activates a fresh kapsuled; the
// state still has the pending update; dpkg is consistent, and the next
// apply completes.
func TestKillDuringAnApply(t *testing.T) {
	t.Parallel()
	_, s := session(t, "")
	conn := s.Connect(t)
	c := create(t, s, "kill-apply")
	if r := s.Run(t, "", "kapsule-update", "check", c); r.Code != exitUpdatesAvailable {
		t.Fatalf("check: exit %d: %s", r.Code, r.Stderr)
	}
	before := readState(t, s).Containers[c]
	pid := activate(t, s, conn)
	release := holdDpkgLock(t, "", c)
	waiting := txStatus(t, conn, busName(t, c), packagekit.StatusWaitingForLock)

	wait := background(t, s, 2*time.Minute, "kapsule-update", "apply", "--yes", c)
	select {
	case <-waiting:
	case <-time.After(time.Minute):
		t.Fatal("the apply's transaction never waited for dpkg's lock")
	}
	kill9(t, pid)
	killed := time.Now()
	r := wait()
	t.Logf("the waiting apply returned %v after the kill: exit %d, %q", time.Since(killed).Round(time.Millisecond), r.Code, strings.TrimSpace(r.Stderr))
	if r.Code == 0 || !strings.Contains(r.Stderr, "kapsuled") {
		t.Errorf("apply interrupted by a dead kapsuled: exit %d, stderr %q; want a failure that names kapsuled", r.Code, r.Stderr)
	}
	release()

	// A fresh kapsuled still knows the pending update.
	rows := s.Run(t, "", "kapsule-update", "list", "--json", c)
	if rows.Code != 0 || !strings.Contains(rows.Stdout, `"to": "1.1"`) {
		t.Errorf("list after the kill: exit %d, %q, %q", rows.Code, rows.Stdout, rows.Stderr)
	}
	if next := s.ServicePID(t, conn); next == 0 || next == pid {
		t.Fatalf("kapsuled after the kill: pid %d (was %d)", next, pid)
	}
	after := readState(t, s).Containers[c]
	if after.Count != before.Count || !after.LastCheck.Equal(before.LastCheck) {
		t.Errorf("results changed by the kill: before %+v, after %+v", before, after)
	}
	// Whatever PackageKit did with the orphaned transaction, dpkg is
	// consistent, and the next apply brings the container up to date.
	eventually(t, "dpkg to settle", func() bool {
		st := dpkgStatus(t, c, fixture)
		return st == "installed 1.0" || st == "installed 1.1"
	})
	if out, err := testbed.IncusErr("exec", c, "--", "dpkg", "--audit"); err != nil || out != "" {
		t.Errorf("dpkg --audit after the kill: %q, %v", out, err)
	}
	var ok bool
	for range 3 { // the orphaned transaction may still hold PackageKit's queue
		if r := s.Run(t, "", "kapsule-update", "apply", "--yes", c); r.Code == 0 {
			ok = true
			break
		} else {
			t.Logf("apply after the kill: exit %d: %s", r.Code, r.Stderr)
		}
		time.Sleep(5 * time.Second)
	}
	if !ok {
		t.Fatal("no apply succeeded after the kill")
	}
	if st := dpkgStatus(t, c, fixture); st != "installed 1.1" {
		t.Errorf("after the apply: %s is %q", fixture, st)
	}
	if r := s.Run(t, "", "kapsule-update", "check", c); r.Code != 0 {
		t.Errorf("check after the apply: exit %d (%s)", r.Code, r.Stdout)
	}
	if left := stateLeftovers(t, s); len(left) > 0 {
		t.Errorf("left in the state directory: %v", left)
	}
}

// TestRepeatedKillsDuringChecks kills kapsuled again and again at random
// moments of a check: after every kill the state file is valid JSON that
// still holds the container's update, and nothing is left beside it.
func TestRepeatedKillsDuringChecks(t *testing.T) {
	t.Parallel()
	const rounds = 12
	_, s := session(t, "")
	conn := s.Connect(t)
	c := create(t, s, "kill-loop")
	if r := s.Run(t, "", "kapsule-update", "check", c); r.Code != exitUpdatesAvailable {
		t.Fatalf("first check: exit %d: %s", r.Code, r.Stderr)
	}
	// An operation's first signal says the check is under way.
	if err := conn.AddMatchSignal(dbus.WithMatchPathNamespace(bridge.OperationsPath)); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan *dbus.Signal, 1024)
	conn.Signal(sigs)
	completed := 0
	for i := range rounds {
		pid := activate(t, s, conn)
		for len(sigs) > 0 {
			<-sigs
		}
		wait := background(t, s, 2*time.Minute, "kapsule-update", "check", c)
		select {
		case <-sigs:
		case <-time.After(time.Minute):
			t.Fatalf("round %d: the check did not start", i)
		}
		time.Sleep(time.Duration(i%6) * 50 * time.Millisecond)
		kill9(t, pid)
		if r := wait(); r.Code == exitUpdatesAvailable {
			completed++ // the check was faster than the kill
		} else if r.Code == -1 {
			t.Fatalf("round %d: the check hung", i)
		}
		st := readState(t, s).Containers[c]
		if st.Count != 1 || len(st.Updates) != 1 || st.Updates[0].PackageID != fixtureUpdate {
			t.Fatalf("round %d: the state lost the update: %+v", i, st)
		}
	}
	// The next kapsuled cleans up what a kill left mid-write.
	activate(t, s, conn)
	if left := stateLeftovers(t, s); len(left) > 0 {
		t.Errorf("left in the state directory after %d kills: %v", rounds, left)
	}
	t.Logf("%d kills at 0-250 ms into a check (%d checks finished first): the state held the update every time", rounds, completed)
}
