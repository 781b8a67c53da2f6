//go:build e2e

package main

// Helpers of the end-to-end tests of the update sources: each container's
// PackageKit on the session bus (bridge_e2e_test.go), stock pkcon through
// `kapsule-update client` (pkcon_e2e_test.go) and their benchmarks.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
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
	fixtureRepo   = testbed.FixtureRepo
)

// PackageKit's D-Bus coordinates, as a client sees them.
const (
	pkDaemonPath = packagekit.DaemonPath
	pkIface      = packagekit.DaemonInterface
	pkTxIface    = packagekit.TransactionInterface
	propsIface   = "org.freedesktop.DBus.Properties"
	// filterNone is PackageKit's "no filter": bit 1 (value 2), not 0.
	filterNone = uint64(1 << 1)
)

// pkSession starts a session of the test user. Its kapsuled creates
// containers from the test image and runs no scheduled update check while
// a test runs (StartupDelay far away): a check would start and stop the
// containers of tests running beside it.
func pkSession(t testing.TB, extra string) *testbed.Session {
	t.Helper()
	bed := testbed.RequireUser(t)
	return bed.NewSession(t, "[Containers]\nDefaultImage="+bed.Image+"\n[Updates]\nStartupDelay=24h\n"+extra)
}

// pkContainer creates a container with `kap create` in the session, deletes
// it when the test ends, and returns its name and its PackageKit's bus
// name.
func pkContainer(t testing.TB, s *testbed.Session, prefix string) (string, string) {
	t.Helper()
	name := testbed.Name(prefix)
	testbed.CleanupContainer(t, name)
	s.Kap(t, "create", name, "--quiet")
	bus, err := bridge.PackageKitBusName(name)
	if err != nil {
		t.Fatal(err)
	}
	return name, bus
}

// busConn connects a client to the session's bus.
func busConn(t testing.TB, s *testbed.Session) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(s.Bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// nameOwner returns the unique name owning name, "" when none.
func nameOwner(t testing.TB, conn *dbus.Conn, name string) string {
	t.Helper()
	var owner string
	err := conn.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, name).Store(&owner)
	if dbusErrorName(err) == "org.freedesktop.DBus.Error.NameHasNoOwner" {
		return ""
	}
	if err != nil {
		t.Fatalf("GetNameOwner(%s): %v", name, err)
	}
	return owner
}

// ownerChange is a NameOwnerChanged signal of the bus.
type ownerChange struct {
	old, new string
	at       time.Time
}

// watchName follows name's owner on a connection of its own, from before
// it returns.
func watchName(t testing.TB, s *testbed.Session, name string) <-chan ownerChange {
	t.Helper()
	conn := busConn(t, s)
	if err := conn.AddMatchSignal(dbus.WithMatchSender("org.freedesktop.DBus"), dbus.WithMatchInterface("org.freedesktop.DBus"),
		dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, name)); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan *dbus.Signal, 64)
	conn.Signal(sigs)
	out := make(chan ownerChange, 64)
	go func() {
		defer close(out)
		for sig := range sigs {
			if sig.Name != "org.freedesktop.DBus.NameOwnerChanged" || len(sig.Body) != 3 || sig.Body[0] != name {
				continue
			}
			out <- ownerChange{old: sig.Body[1].(string), new: sig.Body[2].(string), at: time.Now()}
		}
	}()
	return out
}

// nextOwnerChange waits up to d for the next change of a watched name.
func nextOwnerChange(ch <-chan ownerChange, d time.Duration) (ownerChange, bool) {
	select {
	case c, ok := <-ch:
		return c, ok
	case <-time.After(d):
		return ownerChange{}, false
	}
}

// waitOwned waits until name has an owner and returns it.
func waitOwned(t testing.TB, conn *dbus.Conn, name string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if o := nameOwner(t, conn, name); o != "" {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no owner after %v", name, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// containerStatus is Incus' status of a container: "Running", "Stopped".
func containerStatus(t testing.TB, name string) string {
	t.Helper()
	out := testbed.Incus(t, "list", "^"+name+"$", "--columns", "s", "--format", "csv")
	switch out {
	case "RUNNING":
		return "Running"
	case "STOPPED":
		return "Stopped"
	}
	return out
}

// dpkgStatus asks dpkg in the container, through `kap run`, for a
// package's status and version ("installed 1.0"); "" when dpkg does not
// know the package.
func dpkgStatus(t testing.TB, s *testbed.Session, container, pkg string) string {
	t.Helper()
	r := s.Run(t, "", "kap", "run", container, "--", "dpkg-query", "-W", "-f=${db:Status-Status} ${Version}", pkg)
	switch {
	case r.Code == 0:
		return r.Stdout
	case r.Code == 1 && strings.Contains(r.Stderr, "no packages found matching "+pkg):
		return ""
	}
	t.Fatalf("dpkg-query %s in %s: exit %d: %s", pkg, container, r.Code, r.Stderr)
	return ""
}

// directConn connects a godbus client straight to the container's system
// bus: systemd-stdio-bridge through Incus exec (lifecycle/incus), the
// transport kapsuled itself uses, without kapsuled and the session bus.
func directConn(t testing.TB, container string) *dbus.Conn {
	t.Helper()
	bed := testbed.RequireUser(t)
	testbed.WaitSystemd(t, container)
	ic := incus.NewUnix(bed.IncusSocket)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); ic.Close() })
	dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
	defer dcancel()
	var stderr syncBuffer
	rwc, err := ic.ExecStream(ctx, container, []string{"systemd-stdio-bridge"}, nil, incus.StreamStderr(&stderr))
	if err != nil {
		t.Fatalf("exec systemd-stdio-bridge in %s: %v", container, err)
	}
	conn, err := packagekit.OpenConn(dctx, rwc)
	if err != nil {
		t.Fatalf("connect to the system bus of %s: %v (systemd-stdio-bridge said %q)", container, err, stderr.String())
	}
	t.Cleanup(func() { conn.Close() })
	return conn
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

// holdDpkgLock holds dpkg's lock in the container (dpkg --set-selections
// waiting for input) until the returned function is called or the test
// ends, so that a PackageKit transaction that changes packages waits.
// Incus now and then fails to start a command ("Failed to retrieve PID"):
// an exec that ends before dpkg holds the lock is tried again.
func holdDpkgLock(t testing.TB, container string) (release func()) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		release, why := tryHoldDpkgLock(t, container)
		if release != nil {
			return release
		}
		if attempt == 3 {
			t.Fatalf("dpkg did not take its lock in %s: %s", container, why)
		}
		t.Logf("dpkg did not take its lock in %s (%s); trying again", container, why)
		time.Sleep(time.Second)
	}
}

func tryHoldDpkgLock(t testing.TB, container string) (release func(), why string) {
	t.Helper()
	cmd := exec.Command("incus", "exec", "-T", container, "--", "dpkg", "--set-selections")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	release = func() {
		once.Do(func() {
			_ = stdin.Close()
			<-exited
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err // for release
			return nil, fmt.Sprintf("incus exec ended: %v: %s", err, strings.TrimSpace(stderr.String()))
		default:
		}
		out, _ := testbed.IncusErr("exec", container, "--", "lslocks", "-n", "-o", "PATH")
		if strings.Contains(out, "/var/lib/dpkg/lock-frontend") {
			t.Cleanup(release)
			return release, ""
		}
		if time.Now().After(deadline) {
			release()
			return nil, "no lock after 30 s"
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runEnv runs a program in dir with env and stdin and returns what it
// did.
func runEnv(t testing.TB, dir string, env []string, stdin string, bin string, args ...string) testbed.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return testbed.Result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// withEnv returns env with key set to value.
func withEnv(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}

// shortTempDir is a 0700 directory under /tmp with a short path (unix
// socket paths are limited to 108 bytes), removed when the test ends.
func shortTempDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
