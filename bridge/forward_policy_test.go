package bridge

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// recorder is another service on the container's bus, which must never be
// reached through the forwarder.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func startRecorder(t *testing.T, addr, name string) *recorder {
	t.Helper()
	r := &recorder{}
	conn, err := dbus.Connect(addr, dbus.WithIncomingInterceptor(func(m *dbus.Message) {
		if s, _ := m.Headers[dbus.FieldSender].Value().(string); s == "org.freedesktop.DBus" {
			return
		}
		r.mu.Lock()
		r.seen = append(r.seen, m.String())
		r.mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if rep, err := conn.RequestName(name, dbus.NameFlagDoNotQueue); err != nil || rep != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("request %s: %v %v", name, rep, err)
	}
	return r
}

func (r *recorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

func TestForwarderRefusesWhatIsNotPackageKit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	systemd := startRecorder(t, e.container.Address, "org.freedesktop.systemd1")
	c := e.client()
	tx := e.createTx(c)

	cases := []struct {
		name   string
		path   dbus.ObjectPath
		method string
		args   []any
		want   string // in the error message
	}{
		{"systemd manager", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager.StartUnit", []any{"ssh.service", "replace"}, `interface "org.freedesktop.systemd1.Manager"`},
		{"systemd manager on PackageKit's path", pkPath, "org.freedesktop.systemd1.Manager.StartUnit", []any{"ssh.service", "replace"}, `interface "org.freedesktop.systemd1.Manager"`},
		{"PackageKit method on another path", "/org/freedesktop/systemd1", pkIface + ".CreateTransaction", nil, "/org/freedesktop/systemd1"},
		{"property set", pkPath, propsIface + ".Set", []any{pkIface, "Locked", dbus.MakeVariant(true)}, "read-only"},
		{"property set on a transaction", tx, propsIface + ".Set", []any{pkTxIface, "Role", dbus.MakeVariant(uint32(1))}, "read-only"},
		{"properties of another object", "/org/freedesktop/systemd1", propsIface + ".GetAll", []any{"org.freedesktop.systemd1.Manager"}, "not a PackageKit object"},
		{"introspect another object", "/org/freedesktop/systemd1", introIface + ".Introspect", nil, "not a PackageKit object"},
		{"object manager", "/", "org.freedesktop.DBus.ObjectManager.GetManagedObjects", nil, `interface "org.freedesktop.DBus.ObjectManager"`},
		{"container's bus driver", "/org/freedesktop/DBus", "org.freedesktop.DBus.ListNames", nil, `interface "org.freedesktop.DBus"`},
		{"unknown PackageKit method", pkPath, pkIface + ".Frobnicate", nil, "org.freedesktop.PackageKit.Frobnicate"},
		{"transaction method on the daemon", pkPath, pkTxIface + ".GetUpdates", []any{uint64(2)}, "not a PackageKit transaction path"},
		{"daemon method on a transaction", tx, pkIface + ".CreateTransaction", nil, "daemon object"},
		{"malformed transaction path", "/1_xyz", pkTxIface + ".GetUpdates", []any{uint64(2)}, "on /1_xyz refused"},
		{"nested transaction path", dbus.ObjectPath(string(tx) + "/x"), pkTxIface + ".Cancel", nil, "not a PackageKit transaction path"},
		{"offline method unknown", pkPath, pkOfflineIface + ".Reboot", nil, "Reboot"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Object(e.name, tc.path).Call(tc.method, 0, tc.args...).Err
			if dbusErrorName(err) != errNameAccessDenied {
				t.Fatalf("%s on %s: %v, want AccessDenied", tc.method, tc.path, err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"dev"`) {
				t.Errorf("error %q lacks %q or the container's name", err, tc.want)
			}
		})
	}
	t.Run("no interface", func(t *testing.T) {
		msg := &dbus.Message{Type: dbus.TypeMethodCall, Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldPath:        dbus.MakeVariant(dbus.ObjectPath(pkPath)),
			dbus.FieldMember:      dbus.MakeVariant("CreateTransaction"),
			dbus.FieldDestination: dbus.MakeVariant(e.name),
		}}
		call := <-c.Send(msg, make(chan *dbus.Call, 1)).Done
		if dbusErrorName(call.Err) != errNameAccessDenied || !strings.Contains(call.Err.Error(), "without an interface") {
			t.Errorf("call without interface: %v", call.Err)
		}
	})
	t.Run("signals and replies sent to the name", func(t *testing.T) {
		for _, msg := range []*dbus.Message{
			{Type: dbus.TypeSignal, Headers: map[dbus.HeaderField]dbus.Variant{
				dbus.FieldPath: dbus.MakeVariant(dbus.ObjectPath(pkPath)), dbus.FieldInterface: dbus.MakeVariant(pkIface),
				dbus.FieldMember: dbus.MakeVariant("UpdatesChanged"), dbus.FieldDestination: dbus.MakeVariant(e.name),
			}},
			{Type: dbus.TypeSignal, Headers: map[dbus.HeaderField]dbus.Variant{
				dbus.FieldPath: dbus.MakeVariant(dbus.ObjectPath("/org/freedesktop/systemd1")), dbus.FieldInterface: dbus.MakeVariant("org.freedesktop.systemd1.Manager"),
				dbus.FieldMember: dbus.MakeVariant("Reloading"), dbus.FieldDestination: dbus.MakeVariant(e.name),
				dbus.FieldSignature: dbus.MakeVariant(dbus.SignatureOf(true)),
			}, Body: []any{true}},
			{Type: dbus.TypeMethodReply, Headers: map[dbus.HeaderField]dbus.Variant{
				dbus.FieldReplySerial: dbus.MakeVariant(uint32(1)), dbus.FieldDestination: dbus.MakeVariant(e.name),
			}},
			{Type: dbus.TypeError, Headers: map[dbus.HeaderField]dbus.Variant{
				dbus.FieldReplySerial: dbus.MakeVariant(uint32(2)), dbus.FieldDestination: dbus.MakeVariant(e.name),
				dbus.FieldErrorName: dbus.MakeVariant("org.example.Error"),
			}},
		} {
			if call := c.Send(msg, nil); call.Err != nil {
				t.Fatal(call.Err)
			}
		}
		// A forwarded call after them: whatever was going to pass has passed.
		if err := e.daemon(c).Call(pkIface+".GetDaemonState", 0).Err; err != nil {
			t.Fatal(err)
		}
		for _, m := range e.pk.received("") {
			if m.Type != dbus.TypeMethodCall {
				t.Errorf("PackageKit received a %v from a client: %+v", m.Type, m)
			}
		}
	})
	for _, m := range e.pk.received("") {
		if m.Member == "StartUnit" || m.Member == "Set" || m.Member == "Frobnicate" ||
			m.Member == "GetManagedObjects" || m.Member == "ListNames" || m.Member == "Reboot" ||
			m.Path == "/org/freedesktop/systemd1" || m.Path == "/1_xyz" || m.Iface == "" {
			t.Errorf("PackageKit received a refused call: %+v", m)
		}
	}
	if seen := systemd.messages(); len(seen) != 0 {
		t.Errorf("another service of the container was reached: %v", seen)
	}
}

func TestForwarderAllowsIntrospectionAndPeer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	tx := e.createTx(c)
	for _, p := range []dbus.ObjectPath{"/", "/org", "/org/freedesktop", pkPath, tx} {
		var xmlText string
		if err := c.Object(e.name, p).Call(introIface+".Introspect", 0).Store(&xmlText); err != nil {
			t.Errorf("Introspect %s: %v", p, err)
		} else if !strings.Contains(xmlText, `<node name="`+string(p)+`">`) {
			t.Errorf("Introspect %s = %s", p, xmlText)
		}
	}
	before := e.dials.Load()
	if err := c.Object(e.name, "/anything").Call("org.freedesktop.DBus.Peer.Ping", 0).Err; err != nil {
		t.Errorf("Ping: %v", err)
	}
	var id string
	if err := c.Object(e.name, pkPath).Call("org.freedesktop.DBus.Peer.GetMachineId", 0).Store(&id); err != nil {
		t.Errorf("GetMachineId: %v", err)
	} else if want, err := os.ReadFile("/etc/machine-id"); err == nil && id != strings.TrimSpace(string(want)) {
		t.Errorf("GetMachineId = %q, want %q", id, strings.TrimSpace(string(want)))
	}
	for _, m := range e.pk.received("") {
		if m.Iface == peerIface {
			t.Errorf("Peer call reached PackageKit: %+v", m)
		}
	}
	if e.dials.Load() != before {
		t.Errorf("Peer calls dialled the container")
	}
}

// TestForwarderStripsFrontendSocket: pkcon adds a frontend-socket= hint
// naming a socket on the host; PackageKit in the container fails SetHints
// on it. The forwarder drops it and passes the rest.
func TestForwarderStripsFrontendSocket(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	for _, tc := range []struct {
		hints, want []string
	}{
		{[]string{"locale=C", "frontend-socket=/run/user/1000/pk-debconf-socket", "background=false", "supports-plural-signals=true", "frontend-socket=/tmp/x"},
			[]string{"locale=C", "background=false", "supports-plural-signals=true"}},
		{[]string{"frontend-socket=/tmp/only"}, nil},
		{[]string{"interactive=true", "cache-age=4294967295"}, []string{"interactive=true", "cache-age=4294967295"}},
		{[]string{}, nil},
	} {
		tx := e.createTx(c)
		if err := c.Object(e.name, tx).Call(pkTxIface+".SetHints", 0, tc.hints).Err; err != nil {
			t.Errorf("SetHints(%q): %v", tc.hints, err)
			continue
		}
		if got := e.pk.tx(tx).hints; !slices.Equal(got, tc.want) {
			t.Errorf("SetHints(%q): PackageKit got %q, want %q", tc.hints, got, tc.want)
		}
	}
}

func TestForwarderCheckPath(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var checked []string
	e := newEnv(t, func(ec *envConfig) {
		ec.config = func(cfg *ForwarderConfig) {
			cfg.CheckPath = func(p string) error {
				mu.Lock()
				checked = append(checked, p)
				mu.Unlock()
				if strings.HasPrefix(p, "/home/") {
					return nil
				}
				return fmt.Errorf("%q is not shared with container %q: put the file in your home directory", p, "dev")
			}
		}
	})
	c := e.client()
	for _, tc := range []struct {
		method  string
		args    []any
		errName string
		errText string
	}{
		{"InstallFiles", []any{uint64(0), []string{"/home/user/a.deb"}}, "", ""},
		{"InstallFiles", []any{uint64(0), []string{"/home/user/a.deb", "/tmp/x.deb"}}, errNameNoSuchFile,
			`"/tmp/x.deb" is not shared with container "dev": put the file in your home directory`},
		{"GetDetailsLocal", []any{[]string{"/tmp/y.deb"}}, errNameNoSuchFile, `"/tmp/y.deb" is not shared`},
		{"GetDetailsLocal", []any{[]string{"/home/user/y.deb"}}, "", ""},
		{"GetFilesLocal", []any{[]string{"/srv/z.deb"}}, errNameNoSuchFile, `"/srv/z.deb" is not shared`},
		{"GetFilesLocal", []any{[]string{"/home/user/z.deb"}}, "", ""},
		{"InstallFiles", []any{[]string{"/home/user/a.deb"}}, errNameInvalidArgs, `signature "tas"`},
		// Package names are not paths.
		{"Resolve", []any{uint64(2), []string{"/tmp/not-a-path-but-a-name"}}, "", ""},
	} {
		tx := e.createTx(c)
		err := c.Object(e.name, tx).Call(pkTxIface+"."+tc.method, 0, tc.args...).Err
		if tc.errName == "" {
			if err != nil {
				t.Errorf("%s%v: %v", tc.method, tc.args, err)
			}
			if len(e.pk.received(tc.method)) == 0 {
				t.Errorf("%s%v did not reach PackageKit", tc.method, tc.args)
			}
			continue
		}
		if dbusErrorName(err) != tc.errName || !strings.Contains(err.Error(), tc.errText) {
			t.Errorf("%s%v: %v, want %s with %q", tc.method, tc.args, err, tc.errName, tc.errText)
		}
		for _, m := range e.pk.received(tc.method) {
			if m.Path == string(tx) {
				t.Errorf("refused %s reached PackageKit", tc.method)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"/home/user/a.deb", "/home/user/a.deb", "/tmp/x.deb", "/tmp/y.deb", "/home/user/y.deb", "/srv/z.deb", "/home/user/z.deb"}; !slices.Equal(checked, want) {
		t.Errorf("CheckPath saw %q, want %q", checked, want)
	}
}

// TestForwarderForwardsOnlyPackageKitSignals: signals of other container
// services, signals sent to the forwarder's own connection and the
// container bus driver's signals never reach the host.
func TestForwarderForwardsOnlyPackageKitSignals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	if err := e.daemon(c).Call(propsIface+".GetAll", 0, pkIface).Err; err != nil {
		t.Fatal(err)
	}
	upstreamName := e.pk.received("GetAll")[0].Sender
	sigs := watch(t, c, dbus.WithMatchSender(e.name))

	other, err := dbus.Connect(e.container.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	// A broadcast that looks like PackageKit's, from someone else.
	if err := other.Emit(pkPath, pkIface+".UpdatesChanged"); err != nil {
		t.Fatal(err)
	}
	// A signal sent to the forwarder's connection itself.
	spoof := &dbus.Message{Type: dbus.TypeSignal, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldPath: dbus.MakeVariant(dbus.ObjectPath(pkPath)), dbus.FieldInterface: dbus.MakeVariant(pkIface),
		dbus.FieldMember: dbus.MakeVariant("RestartSchedule"), dbus.FieldDestination: dbus.MakeVariant(upstreamName),
	}}
	if call := other.Send(spoof, nil); call.Err != nil {
		t.Fatal(call.Err)
	}
	// PackageKit restarts: NameOwnerChanged on the container's bus.
	e.restartPK()
	// Then a genuine signal, which must be the first to arrive.
	if err := e.daemon(c).Call(pkIface+".GetDaemonState", 0).Err; err != nil {
		t.Fatal(err)
	}
	e.pk.emit(pkPath, pkIface+".RepoListChanged")
	select {
	case s := <-sigs:
		if s.Name != pkIface+".RepoListChanged" {
			t.Errorf("host got %s%v from the container", s.Name, s.Body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("PackageKit's signal did not arrive")
	}
}
