//go:build e2e

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/testbed"
)

func session(t testing.TB, extra string) (*testbed.Bed, *testbed.Session) {
	t.Helper()
	bed := testbed.RequireUser(t)
	return bed, bed.NewSession(t, "[Containers]\nDefaultImage="+bed.Image+"\n"+extra)
}

func create(t testing.TB, s *testbed.Session, prefix string) string {
	t.Helper()
	name := testbed.Name(prefix)
	testbed.CleanupContainer(t, name)
	s.Kap(t, "create", name, "--quiet")
	return name
}

func updates(t *testing.T, s *testbed.Session, args ...string) testbed.Result {
	t.Helper()
	return s.Run(t, "", "kapsule-update", args...)
}

func listJSON(t *testing.T, s *testbed.Session, c string) []map[string]any {
	t.Helper()
	r := updates(t, s, "list", "--json", c)
	if r.Code != 0 {
		t.Fatalf("list: exit %d: %s", r.Code, r.Stderr)
	}
	var out []map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("list --json: %v: %q", err, r.Stdout)
	}
	return out
}

func TestCheckListApplyThenNothingPending(t *testing.T) {
	t.Parallel()
	_, s := session(t, "")
	c := create(t, s, "upd")

	r := updates(t, s, "check", c)
	if r.Code != ExitUpdatesAvailable {
		t.Fatalf("check: exit %d, want %d (stdout %q stderr %q)", r.Code, ExitUpdatesAvailable, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stdout, c) || !strings.Contains(strings.Fields(r.Stdout[strings.Index(r.Stdout, c):])[1], "1") {
		t.Errorf("check output does not report 1 update for %s: %q", c, r.Stdout)
	}
	rows := listJSON(t, s, c)
	if len(rows) != 1 {
		t.Fatalf("list --json: %v", rows)
	}
	want := map[string]any{"container": c, "package": "kapsule-fixture", "from": "1.0", "to": "1.1", "security": false}
	for k, v := range want {
		if rows[0][k] != v {
			t.Errorf("list: %s = %v, want %v (row %v)", k, rows[0][k], v, rows[0])
		}
	}

	if r := updates(t, s, "apply", c); r.Code != 2 || !strings.Contains(r.Stderr, "--yes") {
		t.Errorf("apply without --yes off a terminal: exit %d, %q", r.Code, r.Stderr)
	}
	if r := s.Kap(t, "run", c, "--", "dpkg-query", "-W", "-f", "${Version}", "kapsule-fixture"); r.Stdout != "1.0" {
		t.Fatalf("before apply: %q", r.Stdout)
	}
	if r := updates(t, s, "apply", "--yes", c); r.Code != 0 || !strings.Contains(r.Stdout, c+": updated") {
		t.Fatalf("apply: exit %d, %q, %q", r.Code, r.Stdout, r.Stderr)
	}
	if r := s.Kap(t, "run", c, "--", "dpkg-query", "-W", "-f", "${Version}", "kapsule-fixture"); r.Stdout != "1.1" {
		t.Errorf("after apply the container has %q, want 1.1", r.Stdout)
	}
	if r := updates(t, s, "check", c); r.Code != 0 {
		t.Errorf("check after apply: exit %d (stdout %q)", r.Code, r.Stdout)
	}
	if rows := listJSON(t, s, c); len(rows) != 0 {
		t.Errorf("list after apply: %v", rows)
	}
}

// notifications is a notification server on the session bus, as Plasma
// provides, that records what it is asked to show, plus a listener for
// Discover's notifier signal.
type notifications struct {
	mu     sync.Mutex
	shown  []string
	pokes  int
	closed chan struct{}
}

func (n *notifications) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.shown = append(n.shown, summary)
	return uint32(len(n.shown)), nil
}

func (n *notifications) counts() (int, int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.shown), n.pokes
}

func serveNotifications(t *testing.T, s *testbed.Session) *notifications {
	t.Helper()
	conn, err := dbus.Connect(s.Bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	n := &notifications{}
	if err := conn.Export(n, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	if r, err := conn.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own org.freedesktop.Notifications: %v %v", r, err)
	}
	if err := conn.AddMatchSignal(dbus.WithMatchInterface("org.kde.discover"), dbus.WithMatchMember("NotifyNotifier")); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan *dbus.Signal, 16)
	conn.Signal(sigs)
	go func() {
		for range sigs {
			n.mu.Lock()
			n.pokes++
			n.mu.Unlock()
		}
	}()
	return n
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNotifiesOnceAndTellsDiscover(t *testing.T) {
	t.Parallel()
	_, s := session(t, "")
	n := serveNotifications(t, s)
	c := create(t, s, "notify")
	updates(t, s, "check", c)
	eventually(t, "a notification and Discover's signal", func() bool { shown, pokes := n.counts(); return shown == 1 && pokes >= 1 })
	n.mu.Lock()
	if !strings.Contains(n.shown[0], c) || !strings.Contains(n.shown[0], "1 update") {
		t.Errorf("notification says %q", n.shown[0])
	}
	n.mu.Unlock()
	// The same set again: Discover is told, the user is not.
	updates(t, s, "check", c)
	eventually(t, "Discover's signal after the second check", func() bool { _, pokes := n.counts(); return pokes >= 2 })
	if shown, _ := n.counts(); shown != 1 {
		t.Errorf("%d notifications for the same set of updates, want 1", shown)
	}
}

func TestAStoppedContainerIsStoppedAgainAfterACheck(t *testing.T) {
	t.Parallel()
	_, s := session(t, "")
	c := create(t, s, "stopped")
	s.Kap(t, "stop", c)
	if r := updates(t, s, "check", c); r.Code != ExitUpdatesAvailable {
		t.Fatalf("check of a stopped container: exit %d: %s", r.Code, r.Stderr)
	}
	eventually(t, c+" to be stopped again", func() bool {
		out, _ := testbed.IncusErr("list", c, "-c", "s", "-f", "csv")
		return out == "STOPPED"
	})
	// A running container stays running.
	r := create(t, s, "running")
	updates(t, s, "check", r)
	if out := testbed.Incus(t, "list", r, "-c", "s", "-f", "csv"); out != "RUNNING" {
		t.Errorf("%s is %s after a check, want RUNNING", r, out)
	}
}

func TestResultsSurviveARestartOfKapsuled(t *testing.T) {
	t.Parallel()
	_, s := session(t, "")
	c := create(t, s, "persist")
	updates(t, s, "check", c)
	conn, err := dbus.Connect(s.Bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var pid uint32
	if err := conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixProcessID", 0, "org.kde.kapsule").Store(&pid); err != nil {
		t.Fatal(err)
	}
	testbed.Kill(t, int(pid))
	eventually(t, "kapsuled to be gone", func() bool {
		var has bool
		_ = conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.kde.kapsule").Store(&has)
		return !has
	})
	// The next call activates a fresh kapsuled, which still knows.
	rows := listJSON(t, s, c)
	if len(rows) != 1 || rows[0]["package"] != "kapsule-fixture" {
		t.Fatalf("after a restart: %v", rows)
	}
	var row string
	for _, line := range strings.Split(updates(t, s, "status").Stdout, "\n") {
		if strings.HasPrefix(line, c+" ") {
			row = line
		}
	}
	if f := strings.Fields(row); len(f) < 5 || f[2] != "1" || f[4] == "never" {
		t.Errorf("status after a restart: row %q, want 1 update and the time of the last check", row)
	}
}

func TestUpdateCLIBadInput(t *testing.T) {
	t.Parallel()
	_, s := session(t, "")
	for name, tc := range map[string]struct {
		args []string
		code int
		want string
	}{
		"missing container":   {[]string{"list", "no-such-box"}, 1, `no container "no-such-box"`},
		"bad name":            {[]string{"check", "bad.name"}, 1, "container name"},
		"client without --":   {[]string{"client", "dev", "pkcon"}, 2, "usage"},
		"client missing box":  {[]string{"client", "no-such-box", "--", "true"}, 125, `no container "no-such-box"`},
		"unknown subcommand":  {[]string{"frob"}, 2, "unknown command"},
		"apply without --yes": {[]string{"apply", "dev"}, 2, "--yes"},
	} {
		t.Run(name, func(t *testing.T) {
			r := updates(t, s, tc.args...)
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", r.Code, tc.code, r.Stderr, tc.want)
			}
		})
	}
}

// On a terminal, apply asks first; "n" changes nothing, "y" applies with a
// progress bar per container, drawn on the terminal, then a line each.
func TestApplyOnATerminalAsksThenShowsABarPerContainer(t *testing.T) {
	t.Parallel()
	_, s := session(t, "")
	c1, c2 := create(t, s, "tty"), create(t, s, "tty")
	if r := updates(t, s, "check", c1, c2); r.Code != ExitUpdatesAvailable {
		t.Fatalf("check: exit %d: %s", r.Code, r.Stderr)
	}
	version := func(c string) string {
		return s.Kap(t, "run", c, "--", "dpkg-query", "-W", "-f", "${Version}", "kapsule-fixture").Stdout
	}

	out, code := onTerminal(t, s, "n\n", "apply", c1, c2)
	if code != 1 || !strings.Contains(out, "Apply the pending updates in "+c1+", "+c2+"? [y/N]") || !strings.Contains(out, "not confirmed, nothing changed") {
		t.Errorf("apply answered n: exit %d, %q", code, out)
	}
	if v1, v2 := version(c1), version(c2); v1 != "1.0" || v2 != "1.0" {
		t.Fatalf("after answering n: versions %q %q, want 1.0", v1, v2)
	}

	out, code = onTerminal(t, s, "y\n", "apply", c1, c2)
	if code != 0 {
		t.Fatalf("apply answered y: exit %d, %q", code, out)
	}
	screen := stripANSI(out)
	for _, c := range []string{c1, c2} {
		if !hasLine(screen, func(l string) bool {
			return strings.HasPrefix(strings.TrimSpace(l), c) && strings.Contains(l, "[") && strings.Contains(l, "100 %")
		}) {
			t.Errorf("no finished progress bar for %s on the terminal: %q", c, screen)
		}
		if !hasLine(screen, func(l string) bool { return strings.TrimSpace(l) == c+": updated" }) {
			t.Errorf("no %q line: %q", c+": updated", screen)
		}
		if v := version(c); v != "1.1" {
			t.Errorf("after apply %s has %q, want 1.1", c, v)
		}
	}
	if !strings.Contains(out, "\x1b[") {
		t.Errorf("no cursor control on the terminal (bars not drawn?): %q", out)
	}
}

// onTerminal runs kapsule-update with a terminal as stdin, stdout and
// stderr, answers the first "[y/N]" prompt, and returns what the terminal
// showed and the exit status.
func onTerminal(t *testing.T, s *testbed.Session, answer string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(s.Bin, "kapsule-update"), args...)
	cmd.Env = s.Env()
	cmd.Dir = s.Bed.Home
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var mu sync.Mutex
	var out bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	shown := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(shown(), "[y/N]"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("kapsule-update %v: no [y/N] prompt: %q", args, shown())
		}
	}
	if _, err := ptmx.Write([]byte(answer)); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("kapsule-update %v did not end: %q", args, shown())
	}
	ptmx.Close()
	<-read
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return shown(), code
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// stripANSI drops terminal control sequences and turns carriage returns
// into line ends: roughly the lines a person saw.
func stripANSI(s string) string {
	return strings.ReplaceAll(ansi.ReplaceAllString(s, "\n"), "\r", "\n")
}

func hasLine(s string, ok func(string) bool) bool {
	for _, l := range strings.Split(s, "\n") {
		if ok(l) {
			return true
		}
	}
	return false
}
