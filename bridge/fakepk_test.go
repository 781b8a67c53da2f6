package bridge

// A fake PackageKit daemon for the forwarder's tests, built on godbus and
// exported on a private "container" bus. Like the real daemon (a GLib main
// loop) it handles calls one at a time in arrival order: everything happens
// in godbus' incoming interceptor, which runs on the reader goroutine, and
// godbus' own (concurrent) dispatch is muted. Transactions are bound to the
// unique name that created them; calls from any other sender are refused
// with RefusedByPolicy, as PackageKit does.

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

const (
	fakeTxIface = "org.freedesktop.PackageKit.Transaction"
	// Exit and error enums (protocols.md §A.6).
	exitSuccess         uint32 = 1
	exitCancelled       uint32 = 3
	errTxCancelled      uint32 = 17
	statusRunning       uint32 = 3
	statusFinished      uint32 = 18
	infoAvailable       uint32 = 2
	infoInstalling      uint32 = 12
	infoSecurityUpdate  uint32 = 8
	infoImportant       uint32 = 7
	transactionFlagsSim uint64 = 1 << 2
)

type fakePackage struct {
	Info    uint32
	ID      string
	Summary string
}

type fakeUpdateDetail struct {
	ID           string
	Updates      []string
	Obsoletes    []string
	VendorURLs   []string
	BugzillaURLs []string
	CVEURLs      []string
	Restart      uint32
	UpdateText   string
	Changelog    string
	State        uint32
	Issued       string
	Updated      string
}

// fakeCall is a message the fake received, in arrival order.
type fakeCall struct {
	Type                                   dbus.Type
	Sender, Dest, Path, Iface, Member, Sig string
	Flags                                  dbus.Flags
	Body                                   []any
}

type fakeTx struct {
	path       dbus.ObjectPath
	owner      string
	hints      []string
	plural     bool
	role       uint32
	flags      uint64
	status     uint32
	action     string
	actionArgs []any
	cancel     chan struct{}
	cancelOnce sync.Once
}

type fakePK struct {
	t    testing.TB
	conn *dbus.Conn
	stop chan struct{}
	wg   sync.WaitGroup

	// Behaviour; set before the fake is used.
	backend          string
	updates          []fakePackage
	details          []fakeUpdateDetail
	bulk             int           // Package signals sent by GetPackages
	destroyDelay     time.Duration // Finished → Destroy (5 s in PackageKit)
	stallDaemonState bool          // GetDaemonState never answers
	holdRuns         chan struct{} // when set, transactions run only once it is closed

	mu      sync.Mutex
	calls   []fakeCall
	txs     map[dbus.ObjectPath]*fakeTx
	counter int
	daemon  map[string]dbus.Variant
	offline map[string]dbus.Variant
}

func newFakePK(t testing.TB) *fakePK {
	f := &fakePK{
		t:            t,
		stop:         make(chan struct{}),
		backend:      "fake",
		destroyDelay: 20 * time.Millisecond,
		txs:          map[dbus.ObjectPath]*fakeTx{},
		updates: []fakePackage{
			{infoSecurityUpdate, "hello;1.1;amd64;local-repo", "A friendly greeting"},
			{infoAvailable | infoImportant<<16, "libfoo1;2.0-1;amd64;local-repo", "Foo library"},
			{infoAvailable, "bar-utils;0.9;all;local-repo", "Bar: \"quoted\" summary"},
		},
	}
	f.details = []fakeUpdateDetail{{
		ID: "hello;1.1;amd64;local-repo", Updates: []string{"hello;1.0;amd64;installed"},
		Obsoletes: []string{}, VendorURLs: []string{"https://example.org/hello"},
		BugzillaURLs: []string{}, CVEURLs: []string{"CVE-2024-0001"}, Restart: 1,
		UpdateText: "Fixes things", Changelog: "* fix", State: 1, Issued: "2024-01-01T00:00:00Z",
	}, {
		ID: "libfoo1;2.0-1;amd64;local-repo", Updates: []string{}, Obsoletes: []string{"libfoo0;1;amd64;installed"},
		VendorURLs: []string{}, BugzillaURLs: []string{"https://bugs.example.org/1"}, CVEURLs: []string{},
		Restart: 4, UpdateText: "", Changelog: "", State: 2, Updated: "2024-02-02T00:00:00Z",
	}}
	return f
}

// start connects the fake to the bus at addr and takes org.freedesktop.PackageKit.
func (f *fakePK) start(addr string) *fakePK {
	t := f.t
	var roles uint64
	for r := 1; r <= 33; r++ {
		roles |= 1 << r
	}
	f.daemon = map[string]dbus.Variant{
		"VersionMajor": dbus.MakeVariant(uint32(1)), "VersionMinor": dbus.MakeVariant(uint32(2)),
		"VersionMicro": dbus.MakeVariant(uint32(6)), "BackendName": dbus.MakeVariant(f.backend),
		"BackendDescription": dbus.MakeVariant("Fake backend"), "BackendAuthor": dbus.MakeVariant("Kapsule tests"),
		"Roles": dbus.MakeVariant(roles), "Groups": dbus.MakeVariant(uint64(1<<22 | 1<<27)),
		"Filters": dbus.MakeVariant(uint64(1<<1 | 1<<2 | 1<<3)), "MimeTypes": dbus.MakeVariant([]string{"application/vnd.debian.binary-package"}),
		"Locked": dbus.MakeVariant(false), "NetworkState": dbus.MakeVariant(uint32(2)),
		"DistroId": dbus.MakeVariant("debian;12;x86_64"),
	}
	f.offline = map[string]dbus.Variant{
		"UpdatePrepared": dbus.MakeVariant(false), "UpdateTriggered": dbus.MakeVariant(false),
		"UpgradePrepared": dbus.MakeVariant(false), "UpgradeTriggered": dbus.MakeVariant(false),
		"PreparedUpgrade": dbus.MakeVariant(map[string]dbus.Variant{}), "TriggerAction": dbus.MakeVariant("unset"),
	}
	conn, err := dbus.Dial(addr, dbus.WithIncomingInterceptor(f.intercept), dbus.WithHandler(mutedHandler{}))
	if err != nil {
		t.Fatalf("fake PackageKit: %v", err)
	}
	f.conn = conn // before the reader starts (in Auth)
	if err := conn.Auth(nil); err != nil {
		t.Fatalf("fake PackageKit: %v", err)
	}
	if err := conn.Hello(); err != nil {
		t.Fatalf("fake PackageKit: %v", err)
	}
	// A predecessor that just closed its connection may still hold the
	// name for a moment.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		r, err := conn.RequestName(pkName, dbus.NameFlagDoNotQueue)
		if err == nil && r == dbus.RequestNameReplyPrimaryOwner {
			break
		}
		if err != nil || r != dbus.RequestNameReplyExists || time.Now().After(deadline) {
			t.Fatalf("fake PackageKit: request name: %v %v", r, err)
		}
	}
	t.Cleanup(f.close)
	return f
}

// close makes the fake leave the bus, as packagekitd does when it exits or
// crashes.
func (f *fakePK) close() {
	select {
	case <-f.stop:
		return
	default:
	}
	close(f.stop)
	f.conn.Close()
	f.wg.Wait()
}

func (f *fakePK) uniqueName() string { return f.conn.Names()[0] }

// received returns the messages received so far with the given member
// (all when member is empty).
func (f *fakePK) received(member string) []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeCall
	for _, c := range f.calls {
		if member == "" || c.Member == member {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakePK) tx(path dbus.ObjectPath) *fakeTx {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.txs[path]
}

func (f *fakePK) emit(path dbus.ObjectPath, name string, args ...any) {
	if err := f.conn.Emit(path, name, args...); err != nil {
		select {
		case <-f.stop:
		default:
			f.t.Errorf("fake PackageKit: emit %s: %v", name, err)
		}
	}
}

func (f *fakePK) setDaemonProperty(name string, v any) {
	f.mu.Lock()
	f.daemon[name] = dbus.MakeVariant(v)
	f.mu.Unlock()
	f.emit(pkPath, "org.freedesktop.DBus.Properties.PropertiesChanged", pkIface,
		map[string]dbus.Variant{name: dbus.MakeVariant(v)}, []string{})
}

func (f *fakePK) intercept(msg *dbus.Message) {
	h := func(k dbus.HeaderField) string {
		v, ok := msg.Headers[k]
		if !ok {
			return ""
		}
		return fmt.Sprint(v.Value())
	}
	c := fakeCall{
		Type: msg.Type, Sender: h(dbus.FieldSender), Dest: h(dbus.FieldDestination), Path: h(dbus.FieldPath),
		Iface: h(dbus.FieldInterface), Member: h(dbus.FieldMember), Sig: h(dbus.FieldSignature),
		Flags: msg.Flags, Body: msg.Body,
	}
	if c.Sender == "org.freedesktop.DBus" {
		return // the bus' answers to the fake's own calls, NameAcquired
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	if msg.Type != dbus.TypeMethodCall || c.Iface == "org.freedesktop.DBus.Peer" {
		return
	}
	wantReply := msg.Flags&dbus.FlagNoReplyExpected == 0
	msg.Flags |= dbus.FlagNoReplyExpected // mute godbus' own dispatch
	body, after, derr := f.dispatch(c)
	if derr == errStall {
		return // never answer
	}
	if wantReply {
		r := &dbus.Message{Type: dbus.TypeMethodReply, Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldReplySerial: dbus.MakeVariant(msg.Serial()),
			dbus.FieldDestination: dbus.MakeVariant(c.Sender),
		}, Body: body}
		if derr != nil {
			r.Type = dbus.TypeError
			r.Headers[dbus.FieldErrorName] = dbus.MakeVariant(derr.Name)
			r.Body = derr.Body
		}
		if len(r.Body) > 0 {
			r.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(r.Body...))
		}
		f.conn.Send(r, nil)
	}
	if after != nil {
		after()
	}
}

func fakeErr(name, format string, args ...any) *dbus.Error {
	return dbus.NewError(name, []any{fmt.Sprintf(format, args...)})
}

var (
	errNone  = []any{}
	errStall = &dbus.Error{Name: "stall"}
)

func (f *fakePK) dispatch(c fakeCall) (body []any, after func(), derr *dbus.Error) {
	p := dbus.ObjectPath(c.Path)
	switch c.Iface {
	case "org.freedesktop.DBus.Introspectable":
		return []any{fakeIntrospection(c.Path)}, nil, nil
	case "org.freedesktop.DBus.Properties":
		return f.properties(c)
	case pkIface, pkOfflineIface:
		if p != pkPath {
			return nil, nil, fakeErr("org.freedesktop.DBus.Error.UnknownObject", "no object %s", p)
		}
		return f.daemonCall(c)
	case fakeTxIface:
		return f.transactionCall(c)
	}
	return nil, nil, fakeErr("org.freedesktop.DBus.Error.UnknownInterface", "no interface %q", c.Iface)
}

func fakeIntrospection(path string) string {
	return `<node name="` + path + `"><interface name="org.freedesktop.DBus.Introspectable"><method name="Introspect"><arg type="s" direction="out"/></method></interface></node>`
}

func (f *fakePK) properties(c fakeCall) ([]any, func(), *dbus.Error) {
	var props map[string]dbus.Variant
	f.mu.Lock()
	defer f.mu.Unlock()
	iface, _ := c.Body[0].(string)
	switch {
	case c.Path == pkPath && iface == pkIface:
		props = f.daemon
	case c.Path == pkPath && iface == pkOfflineIface:
		props = f.offline
	case iface == fakeTxIface && f.txs[dbus.ObjectPath(c.Path)] != nil:
		tx := f.txs[dbus.ObjectPath(c.Path)]
		props = map[string]dbus.Variant{
			"Role": dbus.MakeVariant(tx.role), "Status": dbus.MakeVariant(tx.status),
			"LastPackage": dbus.MakeVariant(""), "Uid": dbus.MakeVariant(uint32(0)),
			"Sender": dbus.MakeVariant(tx.owner), "Percentage": dbus.MakeVariant(uint32(101)),
			"AllowCancel": dbus.MakeVariant(true), "CallerActive": dbus.MakeVariant(true),
			"ElapsedTime": dbus.MakeVariant(uint32(0)), "RemainingTime": dbus.MakeVariant(uint32(0)),
			"Speed": dbus.MakeVariant(uint32(0)), "DownloadSizeRemaining": dbus.MakeVariant(uint64(0)),
			"TransactionFlags": dbus.MakeVariant(tx.flags),
		}
	default:
		return nil, nil, fakeErr("org.freedesktop.DBus.Error.InvalidArgs", "no interface %q on %s", iface, c.Path)
	}
	switch c.Member {
	case "GetAll":
		cp := make(map[string]dbus.Variant, len(props))
		for k, v := range props {
			cp[k] = v
		}
		return []any{cp}, nil, nil
	case "Get":
		name, _ := c.Body[1].(string)
		v, ok := props[name]
		if !ok {
			return nil, nil, fakeErr("org.freedesktop.DBus.Error.InvalidArgs", "no property %q", name)
		}
		return []any{v}, nil, nil
	}
	return nil, nil, fakeErr("org.freedesktop.DBus.Error.PropertyReadOnly", "read-only")
}

func (f *fakePK) daemonCall(c fakeCall) ([]any, func(), *dbus.Error) {
	switch c.Member {
	case "CreateTransaction":
		f.mu.Lock()
		f.counter++
		p := dbus.ObjectPath(fmt.Sprintf("/%d_%08x", f.counter, rand.Uint32()))
		f.txs[p] = &fakeTx{path: p, owner: c.Sender, cancel: make(chan struct{})}
		list := f.txListLocked()
		f.mu.Unlock()
		// A signal before the reply, to check that order survives.
		f.emit(pkPath, pkIface+".TransactionListChanged", list)
		return []any{p}, nil, nil
	case "CanAuthorize":
		return []any{uint32(1)}, nil, nil
	case "GetTimeSinceAction":
		return []any{uint32(42)}, nil, nil
	case "GetTransactionList":
		f.mu.Lock()
		var paths []dbus.ObjectPath
		for p := range f.txs {
			paths = append(paths, p)
		}
		f.mu.Unlock()
		if paths == nil {
			paths = []dbus.ObjectPath{}
		}
		return []any{paths}, nil, nil
	case "GetPackageHistory":
		return []any{map[string][]map[string]dbus.Variant{
			"hello": {{"info": dbus.MakeVariant(uint32(1)), "version": dbus.MakeVariant("1.0"), "timestamp": dbus.MakeVariant(uint64(1700000000))}},
		}}, nil, nil
	case "GetDaemonState":
		if f.stallDaemonState {
			return nil, nil, errStall
		}
		return []any{"fake daemon state"}, nil, nil
	case "GetPrepared":
		return []any{[]string{}}, nil, nil
	case "StateHasChanged", "SuggestDaemonQuit", "SetProxy", "ClearResults", "Trigger", "TriggerUpgrade", "Cancel":
		return errNone, nil, nil
	}
	return nil, nil, fakeErr("org.freedesktop.DBus.Error.UnknownMethod", "no method %q", c.Member)
}

func (f *fakePK) txListLocked() []string {
	list := []string{}
	for p := range f.txs {
		list = append(list, string(p))
	}
	return list
}

// Roles by action method (protocols.md §A.6).
var fakeRoles = map[string]uint32{
	"DependsOn": 2, "GetDetails": 3, "GetFiles": 4, "GetPackages": 5, "GetRepoList": 6,
	"RequiredBy": 7, "GetUpdateDetail": 8, "GetUpdates": 9, "InstallFiles": 10,
	"InstallPackages": 11, "InstallSignature": 12, "RefreshCache": 13, "RemovePackages": 14,
	"RepoEnable": 15, "RepoSetData": 16, "Resolve": 17, "SearchDetails": 18, "SearchFiles": 19,
	"SearchGroups": 20, "SearchNames": 21, "UpdatePackages": 22, "WhatProvides": 23,
	"AcceptEula": 24, "DownloadPackages": 25, "GetDistroUpgrades": 26, "GetCategories": 27,
	"GetOldTransactions": 28, "RepairSystem": 29, "GetDetailsLocal": 30, "GetFilesLocal": 31,
	"RepoRemove": 32, "UpgradeSystem": 33,
}

// Action methods whose first argument is a transaction-flag bitfield.
var fakeFlagMethods = map[string]bool{
	"InstallFiles": true, "InstallPackages": true, "RemovePackages": true, "UpdatePackages": true,
	"RepoRemove": true, "UpgradeSystem": true, "RepairSystem": true,
}

func (f *fakePK) transactionCall(c fakeCall) ([]any, func(), *dbus.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tx := f.txs[dbus.ObjectPath(c.Path)]
	if tx == nil {
		return nil, nil, fakeErr("org.freedesktop.DBus.Error.UnknownObject", "no transaction %s", c.Path)
	}
	if c.Sender != tx.owner {
		return nil, nil, fakeErr(fakeTxIface+".RefusedByPolicy", "sender does not match (%s vs %s)", c.Sender, tx.owner)
	}
	switch c.Member {
	case "SetHints":
		hints, _ := c.Body[0].([]string)
		for _, h := range hints {
			if strings.HasPrefix(h, "frontend-socket=") {
				// The host's socket does not exist in the container.
				return nil, nil, fakeErr(fakeTxIface+".NoSuchFile", "frontend-socket does not exist: %s", h)
			}
		}
		tx.hints = append(tx.hints, hints...)
		for _, h := range hints {
			if h == "supports-plural-signals=true" {
				tx.plural = true
			}
		}
		return errNone, nil, nil
	case "Cancel":
		tx.cancelOnce.Do(func() { close(tx.cancel) })
		return errNone, nil, nil
	}
	role, ok := fakeRoles[c.Member]
	if !ok {
		return nil, nil, fakeErr("org.freedesktop.DBus.Error.UnknownMethod", "no method %q", c.Member)
	}
	if tx.role != 0 {
		return nil, nil, fakeErr(fakeTxIface+".InvalidState", "transaction already has a role")
	}
	tx.role, tx.action, tx.actionArgs = role, c.Member, c.Body
	if fakeFlagMethods[c.Member] {
		tx.flags, _ = c.Body[0].(uint64)
	}
	f.wg.Add(1)
	return errNone, func() { go f.run(tx) }, nil
}

// run plays a transaction after its action method was answered.
func (f *fakePK) run(tx *fakeTx) {
	defer f.wg.Done()
	start := time.Now()
	f.mu.Lock()
	tx.status = statusRunning
	plural := tx.plural
	f.mu.Unlock()
	f.emit(tx.path, "org.freedesktop.DBus.Properties.PropertiesChanged", fakeTxIface,
		map[string]dbus.Variant{"Status": dbus.MakeVariant(statusRunning), "Percentage": dbus.MakeVariant(uint32(0))}, []string{})
	exit := exitSuccess
	if f.holdRuns != nil {
		select {
		case <-f.holdRuns:
		case <-tx.cancel:
		case <-f.stop:
			return
		}
	}
	select {
	case <-tx.cancel:
		f.emit(tx.path, fakeTxIface+".ErrorCode", errTxCancelled, "The task was cancelled")
		exit = exitCancelled
	default:
		f.results(tx, plural)
	}
	f.mu.Lock()
	tx.status = statusFinished
	f.mu.Unlock()
	f.emit(tx.path, fakeTxIface+".Finished", exit, uint32(time.Since(start).Milliseconds()))
	select {
	case <-time.After(f.destroyDelay):
	case <-f.stop:
		return
	}
	f.emit(tx.path, fakeTxIface+".Destroy")
	f.mu.Lock()
	delete(f.txs, tx.path)
	list := f.txListLocked()
	f.mu.Unlock()
	f.emit(pkPath, pkIface+".TransactionListChanged", list)
}

func (f *fakePK) results(tx *fakeTx, plural bool) {
	switch tx.action {
	case "GetUpdates":
		// Like PackageKit 1.3's apt backend: the first package singular,
		// the rest plural when the client supports it.
		f.emit(tx.path, fakeTxIface+".Package", f.updates[0].Info, f.updates[0].ID, f.updates[0].Summary)
		if plural {
			f.emit(tx.path, fakeTxIface+".Packages", f.updates[1:])
		} else {
			for _, p := range f.updates[1:] {
				f.emit(tx.path, fakeTxIface+".Package", p.Info, p.ID, p.Summary)
			}
		}
	case "GetUpdateDetail":
		if plural {
			f.emit(tx.path, fakeTxIface+".UpdateDetails", f.details)
		} else {
			for _, d := range f.details {
				f.emit(tx.path, fakeTxIface+".UpdateDetail", d.ID, d.Updates, d.Obsoletes, d.VendorURLs,
					d.BugzillaURLs, d.CVEURLs, d.Restart, d.UpdateText, d.Changelog, d.State, d.Issued, d.Updated)
			}
		}
	case "GetPackages":
		for i := range f.bulk {
			f.emit(tx.path, fakeTxIface+".Package", infoAvailable, fmt.Sprintf("pkg%d;1.0;amd64;repo", i), "Bulk package")
		}
	case "Resolve":
		names, _ := tx.actionArgs[1].([]string)
		for _, n := range names {
			f.emit(tx.path, fakeTxIface+".Package", infoAvailable, n+";1.1;amd64;local-repo", "Resolved "+n)
		}
	case "InstallPackages":
		ids, _ := tx.actionArgs[1].([]string)
		info := infoInstalling
		for _, id := range ids {
			f.emit(tx.path, fakeTxIface+".Package", info, id, "Installing")
		}
	case "GetDetails":
		ids, _ := tx.actionArgs[0].([]string)
		for _, id := range ids {
			f.emit(tx.path, fakeTxIface+".Details", map[string]dbus.Variant{
				"package-id": dbus.MakeVariant(id), "summary": dbus.MakeVariant("Details"),
				"size": dbus.MakeVariant(uint64(1234)), "group": dbus.MakeVariant(uint32(22)),
			})
		}
	}
}

// mutedHandler accepts every call and does nothing: the interceptor answers.
type mutedHandler struct{}

func (mutedHandler) LookupObject(dbus.ObjectPath) (dbus.ServerObject, bool) {
	return mutedHandler{}, true
}
func (mutedHandler) LookupInterface(string) (dbus.Interface, bool) { return mutedHandler{}, true }
func (mutedHandler) LookupMethod(string) (dbus.Method, bool)       { return mutedMethod{}, true }

type mutedMethod struct{}

func (mutedMethod) Call(...any) ([]any, error) { return nil, nil }
func (mutedMethod) NumArguments() int          { return 0 }
func (mutedMethod) NumReturns() int            { return 0 }
func (mutedMethod) ArgumentValue(int) any      { return nil }
func (mutedMethod) ReturnValue(int) any        { return nil }
func (mutedMethod) DecodeArguments(*dbus.Conn, string, *dbus.Message, []any) ([]any, error) {
	return nil, nil
}
