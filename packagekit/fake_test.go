package packagekit

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"

	"invent.kde.org/kapsule/kapsule/testbed"
)

// testName is the destination the fake PackageKit owns: a per-container
// name as Kapsule exports them, to show the destination is a parameter.
const testName = "org.kde.kapsule.PackageKit.dev"

// script is what the fake does when a transaction's action method is
// called. It runs in godbus' handler goroutine: signals it emits reach the
// client before the method reply, as with the real daemon. A non-nil error
// is sent as the reply.
type script func(tx *fakeTx, method string, args []any) *dbus.Error

// fakePK is a scripted PackageKit daemon on a private bus.
type fakePK struct {
	t    testing.TB
	conn *dbus.Conn

	mu      sync.Mutex
	script  script
	n       int
	txs     []*fakeTx
	created chan *fakeTx // every new transaction, if someone listens

	wg       sync.WaitGroup // goroutines started by scripts
	exportMu sync.Mutex
}

// fakeTx is one transaction of the fake.
type fakeTx struct {
	f    *fakePK
	path dbus.ObjectPath

	mu        sync.Mutex
	hints     []string
	cancelled chan struct{} // closed by Cancel
	once      sync.Once
}

// newBus starts a private session-type dbus-daemon for one test.
func newBus(t *testing.T) *testbed.Bus {
	t.Helper()
	return testbed.StartBus(t, false)
}

// connect opens a private connection to bus.
func connect(t testing.TB, bus *testbed.Bus) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(bus.Address)
	if err != nil {
		t.Fatalf("connect to test bus: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// startFake exports a fake PackageKit on bus under name.
func startFake(t *testing.T, bus *testbed.Bus, name string, s script) *fakePK {
	t.Helper()
	f := &fakePK{t: t, conn: connect(t, bus), script: s, created: make(chan *fakeTx, 16)}
	t.Cleanup(f.wg.Wait)
	err := f.conn.ExportMethodTable(map[string]any{
		"CreateTransaction": f.createTransaction,
		"GetTransactionList": func() ([]dbus.ObjectPath, *dbus.Error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			var paths []dbus.ObjectPath
			for _, tx := range f.txs {
				paths = append(paths, tx.path)
			}
			return paths, nil
		},
		"CanAuthorize": func(action string) (uint32, *dbus.Error) {
			if strings.HasPrefix(action, "org.freedesktop.packagekit.") {
				return uint32(AuthorizeYes), nil
			}
			return uint32(AuthorizeNo), nil
		},
		"GetTimeSinceAction": func(role uint32) (uint32, *dbus.Error) { return role * 60, nil },
	}, DaemonPath, DaemonInterface)
	if err != nil {
		t.Fatal(err)
	}
	props := prop.Map{DaemonInterface: {
		"VersionMajor":       {Value: uint32(1)},
		"VersionMinor":       {Value: uint32(2)},
		"VersionMicro":       {Value: uint32(6)},
		"BackendName":        {Value: "fake"},
		"BackendDescription": {Value: "Fake"},
		"BackendAuthor":      {Value: "Kapsule tests"},
		"Roles":              {Value: uint64(BitfieldOf(RoleGetUpdates, RoleResolve, RoleInstallPackages))},
		"Filters":            {Value: uint64(BitfieldOf(FilterNone, FilterInstalled, FilterNotInstalled))},
		"Groups":             {Value: uint64(BitfieldOf(GroupSystem))},
		"MimeTypes":          {Value: []string{"application/x-deb"}},
		"Locked":             {Value: false},
		"NetworkState":       {Value: uint32(NetworkOnline)},
		"DistroId":           {Value: "debian;12;x86_64"},
	}}
	if _, err := prop.Export(f.conn, DaemonPath, props); err != nil {
		t.Fatal(err)
	}
	reply, err := f.conn.RequestName(name, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s: reply %v, %v", name, reply, err)
	}
	return f
}

func (f *fakePK) createTransaction() (dbus.ObjectPath, *dbus.Error) {
	f.mu.Lock()
	f.n++
	tx := &fakeTx{f: f, path: dbus.ObjectPath(fmt.Sprintf("/%d_fake", f.n)), cancelled: make(chan struct{})}
	f.txs = append(f.txs, tx)
	f.mu.Unlock()
	// godbus 5.2.4 reads its object map unlocked while exporting, so
	// concurrent exports race: serialize them.
	f.exportMu.Lock()
	defer f.exportMu.Unlock()
	call := func(method string) func(...any) *dbus.Error {
		return func(args ...any) *dbus.Error {
			f.mu.Lock()
			s := f.script
			f.mu.Unlock()
			if s == nil {
				return dbus.MakeFailedError(fmt.Errorf("the fake has no script for %s", method))
			}
			return s(tx, method, args)
		}
	}
	err := f.conn.ExportMethodTable(map[string]any{
		"SetHints": func(hints []string) *dbus.Error {
			tx.mu.Lock()
			tx.hints = append(tx.hints, hints...)
			tx.mu.Unlock()
			return nil
		},
		"Cancel": func() *dbus.Error {
			tx.once.Do(func() { close(tx.cancelled) })
			return nil
		},
		"GetUpdates":         func(filter uint64) *dbus.Error { return call("GetUpdates")(filter) },
		"GetPackages":        func(filter uint64) *dbus.Error { return call("GetPackages")(filter) },
		"GetRepoList":        func(filter uint64) *dbus.Error { return call("GetRepoList")(filter) },
		"RefreshCache":       func(force bool) *dbus.Error { return call("RefreshCache")(force) },
		"Resolve":            func(filter uint64, names []string) *dbus.Error { return call("Resolve")(filter, names) },
		"GetDetails":         func(ids []string) *dbus.Error { return call("GetDetails")(ids) },
		"GetUpdateDetail":    func(ids []string) *dbus.Error { return call("GetUpdateDetail")(ids) },
		"GetFiles":           func(ids []string) *dbus.Error { return call("GetFiles")(ids) },
		"GetOldTransactions": func(n uint32) *dbus.Error { return call("GetOldTransactions")(n) },
		"InstallPackages": func(flags uint64, ids []string) *dbus.Error {
			return call("InstallPackages")(flags, ids)
		},
		"RemovePackages": func(flags uint64, ids []string, deps, auto bool) *dbus.Error {
			return call("RemovePackages")(flags, ids, deps, auto)
		},
	}, tx.path, TransactionInterface)
	if err != nil {
		f.t.Errorf("export transaction: %v", err)
		return "", dbus.MakeFailedError(err)
	}
	select {
	case f.created <- tx:
	default:
	}
	return tx.path, nil
}

// setScript replaces the script (for scripts that need the fake).
func (f *fakePK) setScript(s script) {
	f.mu.Lock()
	f.script = s
	f.mu.Unlock()
}

// transactions returns the transactions created so far.
func (f *fakePK) transactions() []*fakeTx {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*fakeTx(nil), f.txs...)
}

// goAsync runs fn after the method reply, tracked for the test's cleanup.
func (f *fakePK) goAsync(fn func()) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		fn()
	}()
}

func (tx *fakeTx) emit(member string, args ...any) {
	if err := tx.f.conn.Emit(tx.path, TransactionInterface+"."+member, args...); err != nil {
		tx.f.t.Errorf("emit %s: %v", member, err)
	}
}

// props emits PropertiesChanged for the transaction interface.
func (tx *fakeTx) props(changed map[string]any) {
	m := make(map[string]dbus.Variant, len(changed))
	for k, v := range changed {
		m[k] = dbus.MakeVariant(v)
	}
	err := tx.f.conn.Emit(tx.path, propertiesChanged, TransactionInterface, m, []string{})
	if err != nil {
		tx.f.t.Errorf("emit PropertiesChanged: %v", err)
	}
}

func (tx *fakeTx) pkg(info, severity Info, id, summary string) {
	tx.emit("Package", EncodeInfo(info, severity), id, summary)
}

func (tx *fakeTx) finish(exit Exit) { tx.emit("Finished", uint32(exit), uint32(42)) }

func (tx *fakeTx) fail(code ErrorCode, details string) {
	tx.emit("ErrorCode", uint32(code), details)
	tx.finish(ExitFailed)
}

func (tx *fakeTx) gotHints() []string {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return append([]string(nil), tx.hints...)
}

// wirePackage is the D-Bus struct (uss) of a Packages signal.
type wirePackage struct {
	Info        uint32
	ID, Summary string
}

// newClient returns a Client for name on a fresh connection to bus.
func newClient(t *testing.T, bus *testbed.Bus, name string) *Client {
	t.Helper()
	c, err := NewClient(testCtx(t), connect(t, bus), name)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testCtx is a context that ends with the test, or after 30 s.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// unixDialer dials the unix socket of a bus address, standing in for the
// Incus exec stream in tests.
func unixDialer(address string) Dialer {
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		path, ok := strings.CutPrefix(address, "unix:path=")
		if !ok {
			return nil, fmt.Errorf("unexpected bus address %q", address)
		}
		path, _, _ = strings.Cut(path, ",")
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
}
