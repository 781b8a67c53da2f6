package bridge

import (
	"encoding/xml"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/testbed"
)

func TestForwarderDaemonPropertiesAndMethods(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	d := e.daemon(c)

	var props map[string]dbus.Variant
	if err := d.Call(propsIface+".GetAll", 0, pkIface).Store(&props); err != nil {
		t.Fatalf("GetAll: %v", err)
	}
	if got := props["BackendName"].Value(); got != "fake" {
		t.Errorf("BackendName = %v", got)
	}
	if got := props["MimeTypes"].Value(); !reflect.DeepEqual(got, []string{"application/vnd.debian.binary-package"}) {
		t.Errorf("MimeTypes = %#v", got)
	}
	if len(props) != 13 {
		t.Errorf("GetAll returned %d properties, want 13: %v", len(props), props)
	}
	var offline map[string]dbus.Variant
	if err := d.Call(propsIface+".GetAll", 0, pkOfflineIface).Store(&offline); err != nil {
		t.Fatalf("GetAll Offline: %v", err)
	}
	if got := offline["TriggerAction"].Value(); got != "unset" {
		t.Errorf("TriggerAction = %v", got)
	}
	var roles dbus.Variant
	if err := d.Call(propsIface+".Get", 0, pkIface, "Roles").Store(&roles); err != nil {
		t.Fatalf("Get Roles: %v", err)
	}
	if roles.Signature().String() != "t" || roles.Value().(uint64)&(1<<9) == 0 {
		t.Errorf("Roles = %v", roles)
	}

	var u uint32
	if err := d.Call(pkIface+".CanAuthorize", 0, "org.freedesktop.packagekit.package-install").Store(&u); err != nil || u != 1 {
		t.Errorf("CanAuthorize = %d, %v", u, err)
	}
	if err := d.Call(pkIface+".GetTimeSinceAction", 0, uint32(9)).Store(&u); err != nil || u != 42 {
		t.Errorf("GetTimeSinceAction = %d, %v", u, err)
	}
	var history map[string][]map[string]dbus.Variant
	if err := d.Call(pkIface+".GetPackageHistory", 0, []string{"hello"}, uint32(10)).Store(&history); err != nil {
		t.Errorf("GetPackageHistory: %v", err)
	} else if v := history["hello"][0]["version"].Value(); v != "1.0" {
		t.Errorf("GetPackageHistory = %v", history)
	}
	var state string
	if err := d.Call(pkIface+".GetDaemonState", 0).Store(&state); err != nil || state != "fake daemon state" {
		t.Errorf("GetDaemonState = %q, %v", state, err)
	}
	tx := e.createTx(c)
	var list []dbus.ObjectPath
	if err := d.Call(pkIface+".GetTransactionList", 0).Store(&list); err != nil || !slices.Contains(list, tx) {
		t.Errorf("GetTransactionList = %v, %v (want %s in it)", list, err, tx)
	}
	for _, call := range []struct {
		method string
		args   []any
	}{
		{pkIface + ".StateHasChanged", []any{"posttrans"}},
		{pkIface + ".SetProxy", []any{"", "", "", "", "", ""}},
		{pkIface + ".SuggestDaemonQuit", nil},
		{pkOfflineIface + ".ClearResults", nil},
		{pkOfflineIface + ".Trigger", []any{"reboot"}},
		{pkOfflineIface + ".Cancel", nil},
	} {
		if err := d.Call(call.method, 0, call.args...).Err; err != nil {
			t.Errorf("%s: %v", call.method, err)
		}
	}
	var prepared []string
	if err := d.Call(pkOfflineIface+".GetPrepared", 0).Store(&prepared); err != nil {
		t.Errorf("GetPrepared: %v", err)
	}
	// Every call reached PackageKit under its own name, from the
	// forwarder's one connection.
	got := e.pk.received("")
	senders := map[string]bool{}
	for _, c := range got {
		if c.Dest != pkName {
			t.Errorf("%s reached PackageKit addressed to %q", c.Member, c.Dest)
		}
		senders[c.Sender] = true
	}
	if len(senders) != 1 {
		t.Errorf("calls came from %d connections, want 1: %v", len(senders), senders)
	}
}

// pkInterfaces reads PackageKit's interface definitions installed on the
// machine (package packagekit).
type introspectedNode struct {
	Interfaces []struct {
		Name    string `xml:"name,attr"`
		Methods []struct {
			Name string `xml:"name,attr"`
			Args []struct {
				Type      string `xml:"type,attr"`
				Direction string `xml:"direction,attr"`
			} `xml:"arg"`
		} `xml:"method"`
	} `xml:"interface"`
}

func readInterfaceXML(t *testing.T, file string) introspectedNode {
	t.Helper()
	b, err := os.ReadFile("/usr/share/dbus-1/interfaces/" + file)
	if err != nil {
		if testbed.InCI() {
			t.Fatalf("PackageKit's interface definitions are part of the test bed: %v", err)
		}
		t.Skipf("PackageKit's interface definitions are not installed (package packagekit): %v", err)
	}
	var n introspectedNode
	if err := xml.Unmarshal(b, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// sampleArgs builds arguments of the given signature.
func sampleArgs(t *testing.T, sig string) []any {
	var args []any
	for sig != "" {
		one, rest, err := splitType(sig)
		if err != nil {
			t.Fatal(err)
		}
		sig = rest
		switch one {
		case "u":
			args = append(args, uint32(1))
		case "t":
			args = append(args, uint64(transactionFlagsSim))
		case "b":
			args = append(args, true)
		case "s":
			args = append(args, "hello;1.1;amd64;local-repo")
		case "as":
			args = append(args, []string{"/home/user/hello_1.1_amd64.deb", "hello;1.1;amd64;local-repo"})
		default:
			t.Fatalf("no sample for %q", one)
		}
	}
	return args
}

// TestForwarderEveryTransactionMethod drives every method of PackageKit's
// installed Transaction interface through the forwarder with its real
// signature, each on a fresh transaction, and checks what PackageKit got.
func TestForwarderEveryTransactionMethod(t *testing.T) {
	t.Parallel()
	node := readInterfaceXML(t, "org.freedesktop.PackageKit.Transaction.xml")
	// Transactions stay queryable after Finished (5 s in PackageKit).
	e := newEnv(t, func(ec *envConfig) { ec.fake = func(f *fakePK) { f.destroyDelay = time.Minute } })
	c := e.client()
	n := 0
	for _, iface := range node.Interfaces {
		if iface.Name != pkTxIface {
			continue
		}
		for _, m := range iface.Methods {
			sig := ""
			for _, a := range m.Args {
				if a.Direction != "out" {
					sig += a.Type
				}
			}
			n++
			t.Run(m.Name, func(t *testing.T) {
				tx := e.createTx(c)
				sigs := watch(t, c, dbus.WithMatchSender(e.name), dbus.WithMatchObjectPath(tx))
				args := sampleArgs(t, sig)
				if err := c.Object(e.name, tx).Call(pkTxIface+"."+m.Name, 0, args...).Err; err != nil {
					t.Fatalf("%s(%s): %v", m.Name, sig, err)
				}
				calls := e.pk.received(m.Name)
				var last *fakeCall
				for i := range calls {
					if calls[i].Path == string(tx) {
						last = &calls[i]
					}
				}
				if last == nil {
					t.Fatalf("PackageKit did not receive %s on %s", m.Name, tx)
				}
				if last.Sig != sig || last.Iface != pkTxIface || last.Dest != pkName {
					t.Errorf("PackageKit received %s.%s(%s) for %s, want %s(%s)", last.Iface, last.Member, last.Sig, last.Dest, m.Name, sig)
				}
				if !reflect.DeepEqual(last.Body, args) {
					t.Errorf("PackageKit received %#v, want %#v", last.Body, args)
				}
				switch m.Name {
				case "SetHints", "Cancel":
					return
				}
				fin := nextSignal(t, sigs, pkTxIface+".Finished")
				if fin.Body[0] != exitSuccess {
					t.Errorf("Finished(%v)", fin.Body)
				}
				if fakeFlagMethods[m.Name] {
					var flags uint64
					if err := c.Object(e.name, tx).Call(propsIface+".Get", 0, pkTxIface, "TransactionFlags").Store(&flags); err != nil || flags != transactionFlagsSim {
						t.Errorf("TransactionFlags = %d, %v; want %d", flags, err, transactionFlagsSim)
					}
				}
			})
		}
	}
	if n < 34 {
		t.Errorf("only %d transaction methods in the interface definition", n)
	}
}

func TestForwarderTransactionFlagsAndCancel(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	e := newEnv(t, func(ec *envConfig) { ec.fake = func(f *fakePK) { f.holdRuns = hold } })
	t.Cleanup(func() { close(hold) })
	c := e.client()
	tx := e.createTx(c)
	sigs := watch(t, c, dbus.WithMatchSender(e.name), dbus.WithMatchObjectPath(tx))
	obj := c.Object(e.name, tx)
	if err := obj.Call(pkTxIface+".InstallPackages", 0, transactionFlagsSim, []string{"hello;1.1;amd64;local-repo"}).Err; err != nil {
		t.Fatal(err)
	}
	var flags uint64
	if err := obj.Call(propsIface+".Get", 0, pkTxIface, "TransactionFlags").Store(&flags); err != nil || flags != transactionFlagsSim {
		t.Errorf("TransactionFlags = %d, %v", flags, err)
	}
	// A second action on the same transaction is PackageKit's to refuse.
	err := obj.Call(pkTxIface+".GetUpdates", 0, uint64(2)).Err
	if dbusErrorName(err) != pkTxIface+".InvalidState" {
		t.Errorf("second action: %v, want InvalidState", err)
	}
	if err := obj.Call(pkTxIface+".Cancel", 0).Err; err != nil {
		t.Fatal(err)
	}
	ec := nextSignal(t, sigs, pkTxIface+".ErrorCode")
	if ec.Body[0] != errTxCancelled {
		t.Errorf("ErrorCode%v", ec.Body)
	}
	if fin := nextSignal(t, sigs, pkTxIface+".Finished"); fin.Body[0] != exitCancelled {
		t.Errorf("Finished%v, want cancelled", fin.Body)
	}
}

// TestForwarderSharesOneUpstreamConnection checks that every client's calls
// leave on the forwarder's one connection, so that PackageKit's
// same-sender rule holds for calls on a transaction, and that the fake does
// enforce that rule.
func TestForwarderSharesOneUpstreamConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.client(), e.client()
	tx := e.createTx(a)
	// Another host client may drive it: all share the upstream connection.
	if err := b.Object(e.name, tx).Call(pkTxIface+".SetHints", 0, []string{"locale=C"}).Err; err != nil {
		t.Errorf("SetHints from a second client: %v", err)
	}
	// A direct client of the container's bus may not (PackageKit's rule).
	direct := connectClient(t, e.container.Address)
	err := direct.Object(pkName, tx).Call(pkTxIface+".SetHints", 0, []string{"locale=C"}).Err
	if dbusErrorName(err) != pkTxIface+".RefusedByPolicy" {
		t.Errorf("direct SetHints: %v, want RefusedByPolicy", err)
	}
}

func TestForwarderConcurrentClientsOwnSignals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(ec *envConfig) { ec.fake = func(f *fakePK) { f.bulk = 200; f.destroyDelay = 0 } })
	var wg sync.WaitGroup
	for range 8 {
		c := e.client()
		wg.Go(func() {
			for range 5 {
				tx := e.createTx(c)
				sigs := watch(t, c, dbus.WithMatchSender(e.name), dbus.WithMatchObjectPath(tx))
				if err := c.Object(e.name, tx).Call(pkTxIface+".GetPackages", 0, uint64(2)).Err; err != nil {
					t.Error(err)
					return
				}
				n := 0
				for {
					s := <-sigs
					if s.Path != tx {
						continue // another transaction of this client
					}
					if s.Name == pkTxIface+".Package" {
						if want := fmt.Sprintf("pkg%d;1.0;amd64;repo", n); s.Body[1] != want {
							t.Errorf("package %d: %v, want %s", n, s.Body[1], want)
						}
						n++
					}
					if s.Name == pkTxIface+".Finished" {
						break
					}
				}
				if n != 200 {
					t.Errorf("%s: %d packages, want 200", tx, n)
				}
				_ = c.RemoveMatchSignal(dbus.WithMatchSender(e.name), dbus.WithMatchObjectPath(tx))
			}
		})
	}
	wg.Wait()
}

// TestForwarderSeveralForwarders runs two containers side by side on one
// session bus.
func TestForwarderSeveralForwarders(t *testing.T) {
	t.Parallel()
	a := newEnv(t, func(ec *envConfig) {
		ec.name = "org.kde.kapsule.PackageKit.alpha"
		ec.fake = func(f *fakePK) { f.backend = "alpha-backend" }
	})
	b := newEnv(t, func(ec *envConfig) {
		ec.name = "org.kde.kapsule.PackageKit.beta"
		ec.fake = func(f *fakePK) { f.backend = "beta-backend" }
		ec.session = a.session
	})
	var wg sync.WaitGroup
	for range 4 {
		c := a.client()
		wg.Go(func() {
			for range 10 {
				for _, env := range []*fwdEnv{a, b} {
					var backend string
					if err := c.Object(env.name, pkPath).Call(propsIface+".Get", 0, pkIface, "BackendName").Store(&backend); err != nil {
						t.Error(err)
						return
					}
					if want := strings.TrimPrefix(env.name, PackageKitBusNamePrefix) + "-backend"; backend != want {
						t.Errorf("%s answered %q, want %q", env.name, backend, want)
					}
					tx := env.createTx(c)
					if err := c.Object(env.name, tx).Call(pkTxIface+".GetUpdates", 0, uint64(2)).Err; err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
}
