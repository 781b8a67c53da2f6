package bridge

import (
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// TestForwarderGetUpdatesOrder runs a transaction the way clients do and
// checks that replies and signals arrive in the order PackageKit sent them,
// the struct-typed Packages signal included.
func TestForwarderGetUpdatesOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	daemonSigs := watch(t, c, dbus.WithMatchSender(e.name), dbus.WithMatchInterface(pkIface))
	create := e.daemon(c).Call(pkIface+".CreateTransaction", 0)
	var tx dbus.ObjectPath
	if err := create.Store(&tx); err != nil {
		t.Fatal(err)
	}
	// PackageKit emitted TransactionListChanged before answering.
	tlc := nextSignal(t, daemonSigs, pkIface+".TransactionListChanged")
	if tlc.Sequence >= create.ResponseSequence {
		t.Errorf("TransactionListChanged (seq %d) arrived after the CreateTransaction reply (seq %d)", tlc.Sequence, create.ResponseSequence)
	}
	if list, ok := tlc.Body[0].([]string); !ok || !slices.Contains(list, string(tx)) {
		t.Errorf("TransactionListChanged(%#v), want %s in it", tlc.Body, tx)
	}

	sigs := watch(t, c, dbus.WithMatchSender(e.name), dbus.WithMatchObjectPath(tx))
	obj := c.Object(e.name, tx)
	// Like PackageKit-Qt: SetHints is not awaited before the action.
	hints := obj.Go(pkTxIface+".SetHints", 0, make(chan *dbus.Call, 1), []string{"locale=C", "supports-plural-signals=true"})
	action := obj.Call(pkTxIface+".GetUpdates", 0, uint64(1<<1))
	if action.Err != nil {
		t.Fatalf("GetUpdates: %v", action.Err)
	}
	if h := <-hints.Done; h.Err != nil {
		t.Fatalf("SetHints: %v", h.Err)
	}
	if hints.ResponseSequence >= action.ResponseSequence {
		t.Errorf("SetHints answered after GetUpdates")
	}

	var got []string
	var last dbus.Sequence = action.ResponseSequence
	var packages []fakePackage
	for done := false; !done; {
		var s *dbus.Signal
		select {
		case s = <-sigs:
		case <-time.After(10 * time.Second):
			t.Fatalf("transaction incomplete after 10 s; got %v", got)
		}
		if s.Sequence <= last {
			t.Errorf("%s (seq %d) out of order (after seq %d)", s.Name, s.Sequence, last)
		}
		last = s.Sequence
		member := s.Name[strings.LastIndex(s.Name, ".")+1:]
		got = append(got, member)
		switch member {
		case "Package":
			packages = append(packages, fakePackage{s.Body[0].(uint32), s.Body[1].(string), s.Body[2].(string)})
		case "Packages":
			if sig := dbus.SignatureOf(s.Body...).String(); sig != "aav" {
				// godbus decodes a(uss) as [][]any; anything else means
				// the message had another signature.
				t.Errorf("Packages decoded as %s", sig)
			}
			packages = append(packages, toPackages(t, s.Body[0])...)
		case "Destroy":
			done = true
		}
	}
	want := []string{"PropertiesChanged", "Package", "Packages", "Finished", "Destroy"}
	if !slices.Equal(got, want) {
		t.Errorf("signals %v, want %v", got, want)
	}
	if !reflect.DeepEqual(packages, e.pk.updates) {
		t.Errorf("packages %#v, want %#v", packages, e.pk.updates)
	}
}

// TestForwarderPipelinedCallsKeepOrder sends SetHints and the action
// back to back from several clients at once and checks that PackageKit
// always saw the hints first (godbus-style concurrent dispatch of calls
// would break this).
func TestForwarderPipelinedCallsKeepOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(ec *envConfig) {
		ec.fake = func(f *fakePK) { f.destroyDelay = 0 }
	})
	const clients, perClient = 6, 25
	var wg sync.WaitGroup
	for range clients {
		c := e.client()
		wg.Go(func() {
			for range perClient {
				var tx dbus.ObjectPath
				if err := e.daemon(c).Call(pkIface+".CreateTransaction", 0).Store(&tx); err != nil {
					t.Error(err)
					return
				}
				obj := c.Object(e.name, tx)
				// Both sent before either is answered.
				h := obj.Go(pkTxIface+".SetHints", 0, make(chan *dbus.Call, 1), []string{"supports-plural-signals=true", "background=false"})
				a := obj.Go(pkTxIface+".GetUpdateDetail", 0, make(chan *dbus.Call, 1), []string{"hello;1.1;amd64;local-repo"})
				if r := <-h.Done; r.Err != nil {
					t.Errorf("SetHints: %v", r.Err)
				}
				if r := <-a.Done; r.Err != nil {
					t.Errorf("GetUpdateDetail: %v", r.Err)
				}
			}
		})
	}
	wg.Wait()
	// PackageKit saw, per transaction, the hints before the action.
	order := map[string][]string{}
	for _, c := range e.pk.received("") {
		if c.Iface == pkTxIface {
			order[c.Path] = append(order[c.Path], c.Member)
		}
	}
	for p, members := range order {
		if !slices.Equal(members, []string{"SetHints", "GetUpdateDetail"}) {
			t.Errorf("%s: PackageKit received %v", p, members)
		}
	}
	if len(order) != clients*perClient {
		t.Errorf("%d transactions, want %d", len(order), clients*perClient)
	}
}

// TestForwarderStructSignalsStrictDecode checks the re-emitted a(uss) and
// a(sasasasasasussuss) signals with libdbus (dbus-monitor), which rejects
// bodies that do not match their signature.
func TestForwarderStructSignalsStrictDecode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mon := startMonitor(t, e.session.Address, "type='signal',interface='"+pkTxIface+"'")
	c := e.client()
	for _, action := range []struct {
		method string
		args   []any
	}{
		{"GetUpdates", []any{uint64(2)}},
		{"GetUpdateDetail", []any{[]string{"hello;1.1;amd64;local-repo", "libfoo1;2.0-1;amd64;local-repo"}}},
	} {
		tx := e.createTx(c)
		sigs := watch(t, c, dbus.WithMatchSender(e.name), dbus.WithMatchObjectPath(tx))
		obj := c.Object(e.name, tx)
		if err := obj.Call(pkTxIface+".SetHints", 0, []string{"supports-plural-signals=true"}).Err; err != nil {
			t.Fatal(err)
		}
		if err := obj.Call(pkTxIface+"."+action.method, 0, action.args...).Err; err != nil {
			t.Fatal(err)
		}
		if s := nextSignal(t, sigs, pkTxIface+".Finished"); s.Body[0] != exitSuccess {
			t.Fatalf("Finished(%v)", s.Body)
		}
	}
	out := mon.waitFor(t, `string "CVE-2024-0001"`)
	for _, want := range []string{
		"member=Packages",
		"struct {\n         uint32 458754\n         string \"libfoo1;2.0-1;amd64;local-repo\"\n         string \"Foo library\"\n      }",
		`string "Bar: "quoted" summary"`,
		"member=UpdateDetails",
		"string \"https://bugs.example.org/1\"",
		"uint32 4\n         string \"\"\n         string \"\"\n         uint32 2\n         string \"\"\n         string \"2024-02-02T00:00:00Z\"",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dbus-monitor output lacks %q:\n%s", want, out)
		}
	}
}

// TestForwarderStructSignalsDecodeIntoStructs decodes the plural signals
// into typed Go structs, field by field.
func TestForwarderStructSignalsDecodeIntoStructs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	tx := e.createTx(c)
	sigs := watch(t, c, dbus.WithMatchSender(e.name), dbus.WithMatchObjectPath(tx))
	obj := c.Object(e.name, tx)
	if err := obj.Call(pkTxIface+".SetHints", 0, []string{"supports-plural-signals=true"}).Err; err != nil {
		t.Fatal(err)
	}
	if err := obj.Call(pkTxIface+".GetUpdateDetail", 0, []string{"hello"}).Err; err != nil {
		t.Fatal(err)
	}
	s := nextSignal(t, sigs, pkTxIface+".UpdateDetails")
	var details []fakeUpdateDetail
	if err := dbus.Store(s.Body, &details); err != nil {
		t.Fatalf("decode a(sasasasasasussuss): %v", err)
	}
	if !reflect.DeepEqual(details, e.pk.details) {
		t.Errorf("UpdateDetails:\n got %#v\nwant %#v", details, e.pk.details)
	}
}

func TestForwarderSingularSignalsWithoutPluralHint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	tx := e.createTx(c)
	sigs := watch(t, c, dbus.WithMatchSender(e.name), dbus.WithMatchObjectPath(tx))
	if err := c.Object(e.name, tx).Call(pkTxIface+".GetUpdateDetail", 0, []string{"hello"}).Err; err != nil {
		t.Fatal(err)
	}
	for _, want := range e.pk.details {
		s := nextSignal(t, sigs, pkTxIface+".UpdateDetail")
		if sig := dbus.SignatureOf(s.Body...).String(); sig != "sasasasasasussuss" {
			t.Errorf("UpdateDetail signature %s", sig)
		}
		var got fakeUpdateDetail
		if err := dbus.Store(s.Body, &got.ID, &got.Updates, &got.Obsoletes, &got.VendorURLs, &got.BugzillaURLs,
			&got.CVEURLs, &got.Restart, &got.UpdateText, &got.Changelog, &got.State, &got.Issued, &got.Updated); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("UpdateDetail %#v, want %#v", got, want)
		}
	}
}

func TestForwarderPropertiesChanged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	// Connect first (PackageKit-Qt reads all properties at start).
	if err := e.daemon(c).Call(propsIface+".GetAll", 0, pkIface).Err; err != nil {
		t.Fatal(err)
	}
	sigs := watch(t, c, dbus.WithMatchSender(e.name), dbus.WithMatchObjectPath(pkPath), dbus.WithMatchInterface(propsIface))
	e.pk.setDaemonProperty("Locked", true)
	s := nextSignal(t, sigs, propsIface+".PropertiesChanged")
	changed, _ := s.Body[1].(map[string]dbus.Variant)
	if s.Body[0] != pkIface || changed["Locked"].Value() != true {
		t.Errorf("PropertiesChanged%v", s.Body)
	}
	var locked bool
	if err := e.daemon(c).Call(propsIface+".Get", 0, pkIface, "Locked").Store(&locked); err != nil || !locked {
		t.Errorf("Locked = %v, %v", locked, err)
	}
}

// TestForwarderSignalsReachSubscribersOnly checks that re-emitted signals
// follow each client's match rules.
func TestForwarderSignalsReachSubscribersOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	all, some := e.client(), e.client()
	if err := e.daemon(all).Call(propsIface+".GetAll", 0, pkIface).Err; err != nil {
		t.Fatal(err)
	}
	allSigs := watch(t, all, dbus.WithMatchSender(e.name), dbus.WithMatchInterface(pkIface))
	someSigs := watch(t, some, dbus.WithMatchSender(e.name), dbus.WithMatchMember("RepoListChanged"))
	e.pk.emit(pkPath, pkIface+".UpdatesChanged")
	e.pk.emit(pkPath, pkIface+".RestartSchedule")
	e.pk.emit(pkPath, pkIface+".TransactionListChanged", []string{"/7_abcdef12"})
	e.pk.emit(pkPath, pkIface+".RepoListChanged")
	for _, name := range []string{"UpdatesChanged", "RestartSchedule", "TransactionListChanged", "RepoListChanged"} {
		s := nextSignal(t, allSigs, pkIface+"."+name)
		if s.Path != pkPath {
			t.Errorf("%s on %s", name, s.Path)
		}
	}
	if s := nextSignal(t, someSigs, pkIface+".RepoListChanged"); s == nil {
		t.Fatal("no RepoListChanged")
	}
	// RepoListChanged came last: anything else would have arrived before.
	select {
	case s := <-someSigs:
		t.Errorf("client without a match rule for it got %s", s.Name)
	default:
	}
}
