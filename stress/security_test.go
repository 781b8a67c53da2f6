//go:build stress

package stress

// Security boundaries: the forwarder's allow-list on a real container,
// the private bus of `kapsule-update client` against other uids, and host
// files through resets and removals interrupted by a killed kapsuled.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
	"invent.kde.org/kapsule/kapsule/packagekit"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// monitor records the container's system bus (dbus-monitor as root in
// the container) until stopped.
type monitor struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
}

func startMonitor(t *testing.T, container string) *monitor {
	t.Helper()
	m := &monitor{cmd: exec.Command("incus", "exec", "-T", container, "--", "dbus-monitor", "--system"), done: make(chan struct{})}
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(m.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			m.mu.Lock()
			m.out.WriteString(sc.Text() + "\n")
			m.mu.Unlock()
		}
	}()
	t.Cleanup(m.stop)
	eventually(t, "dbus-monitor to run in "+container, func() bool {
		return strings.Contains(m.text(), "NameAcquired") || strings.Contains(m.text(), "BecomeMonitor")
	})
	return m
}

func (m *monitor) text() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.out.String()
}

func (m *monitor) stop() {
	if m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
		_ = m.cmd.Wait()
	}
}

func marker() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// TestAllowListOnARealContainer sends, through a container's name on the
// session bus, everything PackageKit's API does not contain: calls to
// systemd, logind and the container's bus driver (ListNames, RequestName,
// AddMatch, BecomeMonitor), PackageKit's methods on the wrong objects,
// property writes, and signals, replies and errors addressed to the name.
// Each call is refused with AccessDenied, and a monitor on the container's
// bus shows that none of it arrived, while an allowed call carrying a
// marker does.
func TestAllowListOnARealContainer(t *testing.T) {
	t.Parallel()
	_, s := session(t, "")
	c := create(t, s, "allow")
	conn := s.Connect(t)
	name := busName(t, c)
	waitOwned(t, conn, name, 10*time.Second)
	pk := pkClient(t, conn, name)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := pk.Properties(ctx); err != nil { // the link is up
		t.Fatal(err)
	}
	mon := startMonitor(t, c)
	mark := marker()

	type call struct {
		path          dbus.ObjectPath
		iface, member string
		args          []any
	}
	refused := []call{
		{"/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "SetEnvironment", []any{[]string{"KAPSULE_MARK_" + mark + "=1"}}},
		{"/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "StartUnit", []any{"kapsule-" + mark + ".service", "replace"}},
		{"/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "ListUnitsByNames", []any{[]string{"kapsule-" + mark + ".service"}}},
		{"/org/freedesktop/systemd1", "org.freedesktop.DBus.Properties", "Get", []any{"org.freedesktop.systemd1.Manager", "Version" + mark}},
		{"/org/freedesktop/systemd1", "org.freedesktop.DBus.Introspectable", "Introspect", nil},
		{"/org/freedesktop/login1", "org.freedesktop.login1.Manager", "PowerOff", []any{false}},
		{"/org/freedesktop/DBus", busIface, "ListNames", nil},
		{"/org/freedesktop/DBus", busIface, "GetNameOwner", []any{"kapsule.mark" + mark}},
		{"/org/freedesktop/DBus", busIface, "RequestName", []any{"kapsule.mark" + mark, uint32(0)}},
		{"/org/freedesktop/DBus", busIface, "AddMatch", []any{"eavesdrop=true,arg0='" + mark + "'"}},
		{"/org/freedesktop/DBus", busIface, "StartServiceByName", []any{"kapsule.mark" + mark, uint32(0)}},
		{"/org/freedesktop/DBus", "org.freedesktop.DBus.Monitoring", "BecomeMonitor", []any{[]string{"arg0='" + mark + "'"}, uint32(0)}},
		{pkDaemonPath, propsIface, "Set", []any{pkIface, "Locked", dbus.MakeVariant(true)}},
		{pkDaemonPath, pkIface, "SetProxy" + mark, nil},
		{pkDaemonPath, pkTxIface, "GetUpdates", []any{filterNone}},
		{"/org/freedesktop/systemd1", pkIface, "CreateTransaction", nil},
		{"/org/freedesktop/systemd1", propsIface, "GetAll", []any{pkIface}},
		{"/" + dbus.ObjectPath(mark), "org.kde.Mark" + mark, "Call", nil},
	}
	for _, r := range refused {
		err := conn.Object(name, r.path).Call(r.iface+"."+r.member, 0, r.args...).Err
		if errName(err) != "org.freedesktop.DBus.Error.AccessDenied" {
			t.Errorf("%s.%s on %s: %v, want AccessDenied", r.iface, r.member, r.path, err)
		}
	}
	// The same without an interface, and without waiting for a reply.
	noIface := &dbus.Message{Type: dbus.TypeMethodCall, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldDestination: dbus.MakeVariant(name),
		dbus.FieldPath:        dbus.MakeVariant(dbus.ObjectPath("/org/freedesktop/systemd1")),
		dbus.FieldMember:      dbus.MakeVariant("Reboot" + mark),
	}}
	if call := <-conn.Send(noIface, make(chan *dbus.Call, 1)).Done; errName(call.Err) != "org.freedesktop.DBus.Error.AccessDenied" {
		t.Errorf("a call without an interface: %v, want AccessDenied", call.Err)
	}
	noReply := conn.Object(name, "/org/freedesktop/systemd1").Go("org.freedesktop.systemd1.Manager.SetEnvironment", dbus.FlagNoReplyExpected, nil, []string{"KAPSULE_NOREPLY_" + mark + "=1"})
	if noReply.Err != nil {
		t.Errorf("send a call without reply: %v", noReply.Err)
	}
	// Signals, replies and errors addressed to the name: the bus may
	// refuse unrequested replies itself; either way nothing may arrive.
	serial := uint32(4242)
	for what, msg := range map[string]*dbus.Message{
		"signal": {Type: dbus.TypeSignal, Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldDestination: dbus.MakeVariant(name),
			dbus.FieldPath:        dbus.MakeVariant(pkDaemonPath),
			dbus.FieldInterface:   dbus.MakeVariant(pkIface),
			dbus.FieldMember:      dbus.MakeVariant("UpdatesChanged"),
			dbus.FieldSignature:   dbus.MakeVariant(dbus.SignatureOf("")),
		}, Body: []any{"signal-" + mark}},
		"method return": {Type: dbus.TypeMethodReply, Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldDestination: dbus.MakeVariant(name),
			dbus.FieldReplySerial: dbus.MakeVariant(serial),
			dbus.FieldSignature:   dbus.MakeVariant(dbus.SignatureOf("")),
		}, Body: []any{"return-" + mark}},
		"error": {Type: dbus.TypeError, Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldDestination: dbus.MakeVariant(name),
			dbus.FieldReplySerial: dbus.MakeVariant(serial),
			dbus.FieldErrorName:   dbus.MakeVariant("org.kde.Mark.Error"),
			dbus.FieldSignature:   dbus.MakeVariant(dbus.SignatureOf("")),
		}, Body: []any{"error-" + mark}},
	} {
		if err := msg.IsValid(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		conn.Send(msg, nil)
	}
	if err := conn.Emit(pkDaemonPath, pkIface+".UpdatesChanged", "broadcast-"+mark); err != nil {
		t.Fatal(err)
	}

	// The control: an allowed call with the marker reaches the container.
	control := "kapsule-control-" + mark
	if _, err := pk.Run(ctx, packagekit.Resolve(packagekit.NoFilter, []string{control})); err != nil {
		t.Logf("Resolve %s: %v", control, err)
	}
	eventually(t, "the allowed call to show in the container's bus", func() bool { return strings.Contains(mon.text(), control) })
	time.Sleep(time.Second)
	mon.stop()
	got := mon.text()
	if n := strings.Count(got, mark) - strings.Count(got, control); n > 0 {
		var lines []string
		for _, l := range strings.Split(got, "\n") {
			if strings.Contains(l, mark) && !strings.Contains(l, control) {
				lines = append(lines, l)
			}
		}
		t.Errorf("%d refused messages reached the container's bus:\n%s", n, strings.Join(lines, "\n"))
	}
	for _, member := range []string{"ListNames", "PowerOff", "Introspect\n"} {
		if strings.Contains(got, "member="+member) {
			t.Errorf("the container's bus saw a call of %s", member)
		}
	}
	if env := testbed.Incus(t, "exec", c, "--", "systemctl", "show-environment"); strings.Contains(env, mark) {
		t.Errorf("systemd's environment in the container changed: %s", env)
	}
	t.Logf("%d refused calls, 1 call without a reply, 3 messages of other types and a broadcast signal: none reached %s's bus (%d bytes of monitor output, the allowed control call seen)",
		len(refused)+1, c, len(got))
}

// TestClientBusIsTheUsersOnly runs `kapsule-update client` and, while its
// command runs, tries its private bus as other users: the restricted test
// user (or nobody) cannot reach it, and even root, who can reach the
// socket, is refused by the bus itself. The user can.
func TestClientBusIsTheUsersOnly(t *testing.T) {
	t.Parallel()
	bed, s := session(t, "")
	c := create(t, s, "clientbus")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := s.Command(ctx, "kapsule-update", "client", c, "--", "sh", "-c", `echo "$DBUS_SYSTEM_BUS_ADDRESS"; read x`)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Wait()
		t.Fatalf("client printed no address: %v (%s)", err, stderr.String())
	}
	addr := strings.TrimSpace(line)
	socket := strings.TrimPrefix(strings.Split(addr, ",")[0], "unix:path=")
	t.Logf("private bus %s", addr)
	for _, dir := range []string{filepath.Dir(socket), filepath.Dir(filepath.Dir(socket))} {
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != 0o700 || int(st.Uid) != bed.UID {
			t.Errorf("%s: mode %v owner %d, want 0700 and %d", dir, fi.Mode().Perm(), st.Uid, bed.UID)
		}
	}

	getID := func(cred *syscall.Credential) (string, error) {
		cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
		defer ccancel()
		q := exec.CommandContext(cctx, "dbus-send", "--bus="+addr, "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.GetNameOwner", "string:org.freedesktop.PackageKit")
		q.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}
		q.Dir = "/"
		q.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := q.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := getID(s.Credential()); err != nil {
		t.Errorf("the user on its own private bus: %v: %s", err, out)
	}
	others := map[string]string{"nobody": "65534"}
	if bed.Restricted != nil {
		others[bed.Restricted.User] = fmt.Sprint(bed.Restricted.UID)
	}
	for who, uid := range others {
		cred, err := testbed.CredentialOf(uid)
		if err != nil {
			t.Fatal(err)
		}
		out, err := getID(cred)
		t.Logf("as %s (uid %s): %v: %s", who, uid, err, out)
		if err == nil {
			t.Errorf("%s (uid %s) used the private bus of uid %d: %s", who, uid, bed.UID, out)
		}
	}
	// Root reaches the socket (it ignores the directory's mode): the bus's
	// policy refuses it.
	if rc, err := dbus.Connect(addr); err == nil {
		var owner string
		callErr := rc.BusObject().Call(busIface+".GetNameOwner", 0, "org.freedesktop.PackageKit").Store(&owner)
		rc.Close()
		t.Errorf("root connected to the private bus of uid %d (GetNameOwner: %q, %v)", bed.UID, owner, callErr)
	} else {
		t.Logf("as root: %v", err)
	}

	if _, err := io.WriteString(stdin, "done\n"); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("kapsule-update client: %v: %s", err, stderr.String())
	}
	if _, err := os.Stat(filepath.Dir(socket)); !os.IsNotExist(err) {
		t.Errorf("the private bus directory is still there: %v", err)
	}
}

// sentinels writes files in the user's home and in a custom mount, and
// returns a check that they are all still there, unchanged.
func sentinels(t *testing.T, bed *testbed.Bed, dirs ...string) func(when string) {
	t.Helper()
	files := map[string]string{}
	mark := marker()
	for _, d := range dirs {
		deep := filepath.Join(d, "kapsule-sentinels-"+mark)
		t.Cleanup(func() { os.RemoveAll(deep) })
		for _, p := range []string{filepath.Join(d, "kapsule-sentinel-"+mark), filepath.Join(deep, "a", "b", "sentinel")} {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			content := "keep " + marker()
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			for q := p; q != d; q = filepath.Dir(q) {
				_ = os.Chown(q, bed.UID, bed.GID)
			}
			files[p] = content
			t.Cleanup(func() { os.Remove(p) })
		}
	}
	return func(when string) {
		t.Helper()
		for p, want := range files {
			if b, err := os.ReadFile(p); err != nil || string(b) != want {
				t.Errorf("%s: %s: %q, %v", when, p, b, err)
			}
		}
		if _, err := os.Stat(bed.Home); err != nil {
			t.Errorf("%s: the home: %v", when, err)
		}
	}
}

// TestResetAndRmKeepHostFilesWhenInterrupted kills kapsuled in the middle
// of a reset (after the delete, while the container is made again) and of
// a removal, with sentinel files in the home and in a custom mount:
// checked after each step, they are never touched; the reset run again
// finishes the job with the same options.
func TestResetAndRmKeepHostFilesWhenInterrupted(t *testing.T) {
	t.Parallel()
	bed, s := session(t, "")
	ic := incusClient(t)
	conn := s.Connect(t)
	mount, err := os.MkdirTemp(bed.Home, "kapsule-stress-mount-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(mount) })
	if err := os.Chown(mount, bed.UID, bed.GID); err != nil {
		t.Fatal(err)
	}
	c := create(t, s, "reset-kill", "--mount", mount, "--cpu", "1")
	check := sentinels(t, bed, bed.Home, mount)
	check("after create")
	s.Kap(t, "run", c, "--", "sudo", "touch", "/etc/only-inside")
	options := testbed.Incus(t, "config", "get", c, "user.kapsule.options")

	// Reset, killed once the old container is gone (Incus says so in an
	// event: the gap before the new one exists can be shorter than a poll).
	pid := activate(t, s, conn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	events, err := ic.Events(ctx, incus.EventLifecycle)
	if err != nil {
		t.Fatal(err)
	}
	wait := background(t, s, 5*time.Minute, "kap", "reset", "--yes", c)
	for deleted := false; !deleted; {
		ev, ok := <-events.C()
		if !ok {
			t.Fatalf("no instance-deleted event for %s: %v", c, events.Err())
		}
		deleted = ev.Lifecycle != nil && ev.Lifecycle.Action == incus.InstanceDeleted && ev.Lifecycle.Name == c
	}
	events.Close()
	kill9(t, pid)
	r := wait()
	t.Logf("interrupted reset: exit %d, %q", r.Code, lastLine(r.Stderr))
	if r.Code == 0 {
		t.Errorf("kap reset succeeded although kapsuled was killed under it")
	}
	check("after the interrupted reset")

	// Run again, it finishes.
	r = s.Run(t, "", "kap", "reset", "--yes", c)
	t.Logf("reset again: exit %d, %q", r.Code, lastLine(r.Stderr))
	if r.Code != 0 {
		t.Fatalf("reset after the interruption: exit %d: %s", r.Code, r.Stderr)
	}
	check("after the reset")
	if got := testbed.Incus(t, "config", "get", c, "user.kapsule.options"); got != options {
		t.Errorf("options after the interrupted reset:\nbefore %s\nafter  %s", options, got)
	}
	if r := s.Run(t, "", "kap", "run", c, "--", "test", "-e", "/etc/only-inside"); r.Code != 1 {
		t.Errorf("the container was not made afresh (exit %d)", r.Code)
	}
	if r := s.Run(t, "", "kap", "run", c, "--", "ls", mount); r.Code != 0 || !strings.Contains(r.Stdout, "kapsule-sentinel-") {
		t.Errorf("the custom mount after the reset: exit %d, %q", r.Code, r.Stdout)
	}

	// Remove, killed as it stops the container.
	pid = activate(t, s, conn)
	wait = background(t, s, 5*time.Minute, "kap", "rm", "--force", c)
	eventually(t, c+" to stop", func() bool { return status(t, ic, c) != "Running" })
	kill9(t, pid)
	r = wait()
	t.Logf("interrupted rm: exit %d, %q", r.Code, lastLine(r.Stderr))
	check("after the interrupted rm")
	// Incus finishes the delete without kapsuled; a second rm meanwhile
	// either does it or finds it done.
	r = s.Run(t, "", "kap", "rm", "--force", c)
	t.Logf("rm again: exit %d, %q", r.Code, lastLine(r.Stderr))
	if r.Code != 0 && !strings.Contains(r.Stderr, "deleted meanwhile") && !strings.Contains(r.Stderr, `no container "`+c+`"`) {
		t.Errorf("rm after the interruption: exit %d: %q", r.Code, r.Stderr)
	}
	if st := status(t, ic, c); st != "" {
		t.Errorf("%s still exists (%s)", c, st)
	}
	check("after rm")
}
