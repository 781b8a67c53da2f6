package bridge

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/testbed"
)

const testName = "org.kde.kapsule.PackageKit.dev"

// fwdEnv is a forwarder between a private session bus and a private
// "container" bus on which a fake PackageKit runs.
type fwdEnv struct {
	t         testing.TB
	container *testbed.Bus
	session   *testbed.Bus
	pk        *fakePK
	fwd       *Forwarder
	name      string
	dials     atomic.Int32
	runErr    chan error
	cancel    context.CancelFunc

	linksMu sync.Mutex
	links   []net.Conn
}

type envConfig struct {
	fake    func(*fakePK)          // adjusts the fake before it starts
	config  func(*ForwarderConfig) // adjusts the forwarder's configuration
	name    string                 // bus name; testName when empty
	noRun   bool                   // do not start the forwarder
	session *testbed.Bus           // session bus to share; a new one when nil
}

func newEnv(t testing.TB, opts ...func(*envConfig)) *fwdEnv {
	t.Helper()
	var ec envConfig
	for _, o := range opts {
		o(&ec)
	}
	e := &fwdEnv{t: t, name: testName}
	if ec.name != "" {
		e.name = ec.name
	}
	e.container = testbed.StartBus(t, true)
	e.session = ec.session
	if e.session == nil {
		e.session = testbed.StartBus(t, false)
	}
	e.pk = newFakePK(t)
	if ec.fake != nil {
		ec.fake(e.pk)
	}
	e.pk.start(e.container.Address)
	cfg := ForwarderConfig{
		SessionAddress: e.session.Address,
		Name:           e.name,
		Container:      "dev",
		Dial:           e.dialContainer,
		Logger:         testLogger(t),
	}
	if ec.config != nil {
		ec.config(&cfg)
	}
	fwd, err := NewForwarder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.fwd = fwd
	if !ec.noRun {
		e.run()
	}
	return e
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("KAPSULE_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// run starts the forwarder and waits until it owns its name; the test's
// cleanup stops it and checks that Run returned nil.
func (e *fwdEnv) run() {
	t := e.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.runErr = make(chan error, 1)
	go func() { e.runErr <- e.fwd.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-e.runErr:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return within 10 s of cancellation")
		}
	})
	select {
	case <-e.fwd.Ready():
	case err := <-e.runErr:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("forwarder not ready within 10 s")
	}
}

// stop cancels Run and returns its result.
func (e *fwdEnv) stop() error {
	e.cancel()
	select {
	case err := <-e.runErr:
		e.runErr <- nil // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		e.t.Fatal("Run did not return within 10 s of cancellation")
		return nil
	}
}

func unixPath(t testing.TB, addr string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(addr, "unix:path=")
	if !ok {
		t.Fatalf("not a unix:path address: %q", addr)
	}
	p, _, _ := strings.Cut(rest, ",")
	return p
}

// dialContainer is the production Dial's stand-in: a socket to the
// container's bus.
func (e *fwdEnv) dialContainer(ctx context.Context) (io.ReadWriteCloser, error) {
	e.dials.Add(1)
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", unixPath(e.t, e.container.Address))
	if err != nil {
		return nil, err
	}
	e.linksMu.Lock()
	e.links = append(e.links, c)
	e.linksMu.Unlock()
	return c, nil
}

// cutLinks closes the container side of every link, as when the container
// stops or incusd restarts.
func (e *fwdEnv) cutLinks() {
	e.linksMu.Lock()
	defer e.linksMu.Unlock()
	for _, c := range e.links {
		c.Close()
	}
	e.links = nil
}

// restartPK replaces the fake PackageKit by a fresh one on the same bus.
func (e *fwdEnv) restartPK() {
	e.pk.close()
	e.pk = newFakePK(e.t).start(e.container.Address)
}

func (e *fwdEnv) client() *dbus.Conn {
	e.t.Helper()
	return connectClient(e.t, e.session.Address)
}

func connectClient(t testing.TB, addr string) *dbus.Conn {
	t.Helper()
	c, err := dbus.Connect(addr, dbus.WithSignalHandler(dbus.NewSequentialSignalHandler()))
	if err != nil {
		t.Fatalf("connect client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (e *fwdEnv) daemon(c *dbus.Conn) dbus.BusObject { return c.Object(e.name, pkPath) }

func (e *fwdEnv) createTx(c *dbus.Conn) dbus.ObjectPath {
	e.t.Helper()
	var p dbus.ObjectPath
	if err := e.daemon(c).Call(pkIface+".CreateTransaction", 0).Store(&p); err != nil {
		e.t.Fatalf("CreateTransaction: %v", err)
	}
	return p
}

// watch subscribes c to signals and returns them in arrival order.
func watch(t testing.TB, c *dbus.Conn, opts ...dbus.MatchOption) chan *dbus.Signal {
	t.Helper()
	if err := c.AddMatchSignal(opts...); err != nil {
		t.Fatalf("add match: %v", err)
	}
	ch := make(chan *dbus.Signal, 100000)
	c.Signal(ch)
	return ch
}

// nextSignal returns the next signal named name (interface.member) on ch,
// skipping others.
func nextSignal(t testing.TB, ch chan *dbus.Signal, name string) *dbus.Signal {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case s := <-ch:
			if s.Name == name {
				return s
			}
		case <-deadline:
			t.Fatalf("no %s signal within 10 s", name)
			return nil
		}
	}
}

// noSignal checks that no signal named name arrives on ch within d.
func noSignal(t testing.TB, ch chan *dbus.Signal, name string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case s := <-ch:
			if s.Name == name {
				t.Fatalf("unexpected %s signal: %v", name, s.Body)
			}
		case <-deadline:
			return
		}
	}
}

func dbusErrorName(err error) string {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name
	}
	return ""
}

// toPackages converts a decoded a(uss).
func toPackages(t testing.TB, v any) []fakePackage {
	t.Helper()
	var out []fakePackage
	if err := dbus.Store([]any{v}, &out); err != nil {
		t.Fatalf("decode a(uss): %v (%#v)", err, v)
	}
	return out
}
