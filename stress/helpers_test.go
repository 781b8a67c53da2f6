//go:build stress

package stress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
	"invent.kde.org/kapsule/kapsule/packagekit"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// Short names for the test image's fixture.
const (
	fixture       = testbed.Fixture
	fixtureExtra  = testbed.FixtureExtra
	fixtureUpdate = testbed.FixtureUpdate
)

// D-Bus coordinates, as clients see them.
const (
	pkDaemonPath = packagekit.DaemonPath
	pkIface      = packagekit.DaemonInterface
	pkTxIface    = packagekit.TransactionInterface
	propsIface   = "org.freedesktop.DBus.Properties"
	busIface     = "org.freedesktop.DBus"
	filterNone   = uint64(1 << 1)
	// exitUpdatesAvailable is kapsule-update check's status with updates
	// pending.
	exitUpdatesAvailable = 100
)

// session starts a desktop session of the test user, run by this (root)
// test: its kapsuled creates containers from the test image and runs no
// scheduled check while a test runs.
func session(t testing.TB, extra string) (*testbed.Bed, *testbed.UserSession) {
	t.Helper()
	bed := testbed.RequireRoot(t)
	return bed, bed.NewUserSession(t, "[Containers]\nDefaultImage="+bed.Image+"\n[Updates]\nStartupDelay=24h\n"+extra)
}

// create makes a container with `kap create` (as the user) and deletes it
// when the test ends.
func create(t testing.TB, s *testbed.UserSession, prefix string, args ...string) string {
	t.Helper()
	name := testbed.Name(prefix)
	testbed.CleanupContainerIn(t, s.Bed.Project, name)
	s.Kap(t, append([]string{"create", name, "--quiet"}, args...)...)
	return name
}

// busName is the session-bus name of a container's PackageKit.
func busName(t testing.TB, container string) string {
	t.Helper()
	n, err := bridge.PackageKitBusName(container)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func errName(err error) string {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name
	}
	var dp *dbus.Error
	if errors.As(err, &dp) && dp != nil {
		return dp.Name
	}
	return ""
}

// incusClient is a root client of the Incus API, for quick checks.
func incusClient(t testing.TB) *incus.Client { return incusClientIn(t, "") }

// incusClientIn is incusClient in an Incus project ("" = default).
func incusClientIn(t testing.TB, project string) *incus.Client {
	t.Helper()
	bed := testbed.RequireRoot(t)
	var opts []incus.Option
	if project != "" {
		opts = append(opts, incus.WithProject(project))
	}
	c := incus.NewUnix(bed.IncusSocket, opts...)
	t.Cleanup(c.Close)
	return c
}

// inProject is an incus CLI command line for a project ("" = default).
func inProject(project string, args ...string) []string {
	if project == "" {
		return args
	}
	return append([]string{"--project", project}, args...)
}

// status is Incus's status of a container ("Running", "Stopped"), "" when
// it does not exist.
func status(t testing.TB, ic *incus.Client, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inst, _, err := ic.Instance(ctx, name)
	if errors.Is(err, incus.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatalf("instance %s: %v", name, err)
	}
	return inst.Status
}

// waitStatus waits until a container has the status, and says how long
// that took.
func waitStatus(t testing.TB, ic *incus.Client, name, want string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := status(t, ic, name)
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("container %s is %q after %v, want %q", name, got, d, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// activate makes sure kapsuled runs in the session and returns its pid.
func activate(t testing.TB, s *testbed.UserSession, conn *dbus.Conn) int {
	t.Helper()
	var v dbus.Variant
	for attempt := 1; ; attempt++ {
		err := conn.Object(bridge.ServiceName, bridge.ManagerPath).Call(propsIface+".Get", 0, bridge.ManagerInterface, "Version").Store(&v)
		if err == nil {
			break
		}
		// Sent while a killed kapsuled still owned the name (the bus
		// had not seen it go yet): the next call activates a fresh one.
		if errName(err) != "org.freedesktop.DBus.Error.NoReply" || attempt == 3 {
			t.Fatalf("activate kapsuled: %v", err)
		}
	}
	pid := s.ServicePID(t, conn)
	if pid == 0 {
		t.Fatal("kapsuled answered but owns no name")
	}
	return pid
}

// processUID is the real uid of a process.
func processUID(t testing.TB, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
			uid, _ := strconv.Atoi(f[1])
			return uid
		}
	}
	t.Fatalf("no Uid in /proc/%d/status", pid)
	return -1
}

// alive reports whether a process exists (and is not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || len(s) < i+3 || s[i+2] != 'Z'
}

// kill9 sends SIGKILL to a process and waits until it is gone.
func kill9(t testing.TB, pid int) {
	t.Helper()
	testbed.Kill(t, pid)
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still there 10 s after SIGKILL", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// updateState is the part of $XDG_STATE_HOME/kapsule/updates.json the
// tests look at.
type updateState struct {
	Version    int `json:"version"`
	Containers map[string]struct {
		Updates []struct {
			PackageID string `json:"package_id"`
		} `json:"updates"`
		Count     uint32    `json:"count"`
		LastCheck time.Time `json:"last_check"`
		LastError string    `json:"last_error"`
	} `json:"containers"`
}

// readState reads the update state file; it must be valid JSON.
func readState(t testing.TB, s *testbed.UserSession) updateState {
	t.Helper()
	path := filepath.Join(s.State, "kapsule", "updates.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("update state: %v", err)
	}
	var st updateState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("update state %s is not valid JSON: %v\n%s", path, err, b)
	}
	return st
}

// stateLeftovers lists files of the state directory that are neither the
// state nor records (temporary files of an interrupted write, files set
// aside as corrupt).
func stateLeftovers(t testing.TB, s *testbed.UserSession) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.State, "kapsule"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		switch e.Name() {
		case "updates.json", "autostarted.json", "reset":
		default:
			out = append(out, e.Name())
		}
	}
	return out
}

// autoStarted reads kapsuled's record of the containers it started on its
// own (nil when there is none).
func autoStarted(t testing.TB, s *testbed.UserSession) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.State, "kapsule", "autostarted.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		t.Fatalf("autostarted.json: %v: %s", err, b)
	}
	return names
}

// pkClient is the typed PackageKit client on conn for dest.
func pkClient(t testing.TB, conn *dbus.Conn, dest string) *packagekit.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pk, err := packagekit.NewClient(ctx, conn, dest)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pk.Close() })
	return pk
}

// waitOwned waits until name has an owner on conn's bus.
func waitOwned(t testing.TB, conn *dbus.Conn, name string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var owner string
		err := conn.BusObject().Call(busIface+".GetNameOwner", 0, name).Store(&owner)
		if err == nil {
			return owner
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no owner after %v: %v", name, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// holdDpkgLock makes dpkg in the container (of the Incus project) hold its lock, in a unit of the
// container's own systemd (so that it outlives an incusd restart), until
// the returned function or the end of the test: a PackageKit transaction
// that changes packages waits for it.
func holdDpkgLock(t testing.TB, project, container string) (release func()) {
	t.Helper()
	testbed.Incus(t, inProject(project, "exec", container, "--", "systemd-run", "--unit=kt-dpkg-hold", "--collect",
		"sh", "-c", "sleep infinity | dpkg --set-selections")...)
	var once sync.Once
	release = func() {
		once.Do(func() {
			_, _ = testbed.IncusErr(inProject(project, "exec", container, "--", "systemctl", "stop", "kt-dpkg-hold")...)
		})
	}
	t.Cleanup(release)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := testbed.IncusErr(inProject(project, "exec", container, "--", "lslocks", "-n", "-o", "PATH")...)
		if strings.Contains(out, "/var/lib/dpkg/lock") {
			return release
		}
		if time.Now().After(deadline) {
			t.Fatalf("dpkg did not take its lock in %s", container)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dpkgStatus is dpkg's status and version of a package in the container
// ("installed 1.0"), asked through incus exec.
func dpkgStatus(t testing.TB, container, pkg string) string {
	t.Helper()
	out, err := testbed.IncusErr("exec", container, "--", "dpkg-query", "-W", "-f=${db:Status-Status} ${Version}", pkg)
	if err != nil {
		t.Fatalf("dpkg-query %s in %s: %v", pkg, container, err)
	}
	return out
}

// txStatus watches the PackageKit transactions of a bus name on conn and
// reports when one reaches the status.
func txStatus(t testing.TB, conn *dbus.Conn, name string, want packagekit.Status) <-chan struct{} {
	t.Helper()
	match := []dbus.MatchOption{dbus.WithMatchSender(name), dbus.WithMatchInterface(propsIface), dbus.WithMatchMember("PropertiesChanged")}
	if err := conn.AddMatchSignal(match...); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan *dbus.Signal, 256)
	conn.Signal(sigs)
	reached := make(chan struct{})
	go func() {
		defer conn.RemoveSignal(sigs)
		for sig := range sigs {
			var iface string
			var changed map[string]dbus.Variant
			var inval []string
			if dbus.Store(sig.Body, &iface, &changed, &inval) != nil || iface != pkTxIface {
				continue
			}
			if v, ok := changed["Status"]; ok {
				if st, ok := v.Value().(uint32); ok && packagekit.Status(st) == want {
					close(reached)
					return
				}
			}
		}
	}()
	return reached
}

// background starts a command of the session and returns a function that
// waits for it (at most d) and returns what it did.
func background(t *testing.T, s *testbed.UserSession, d time.Duration, name string, args ...string) func() testbed.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	cmd := s.Command(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	return func() testbed.Result {
		defer cancel()
		err := cmd.Wait()
		code := 0
		var ee *exec.ExitError
		switch {
		case ctx.Err() != nil:
			t.Errorf("%s %s still running after %v: killed (stderr %q)", name, strings.Join(args, " "), d, errb.String())
			code = -1
		case errors.As(err, &ee):
			code = ee.ExitCode()
		case err != nil:
			t.Fatalf("%s: %v", name, err)
		}
		return testbed.Result{Stdout: out.String(), Stderr: errb.String(), Code: code}
	}
}

// eventually waits up to a minute for cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
