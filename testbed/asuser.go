package testbed

// Sessions of the test user run by a test that is itself root: the stress
// tests need root for some faults (restarting incusd, acting as other
// uids), so they cannot run through as-user, yet kapsuled and the CLIs
// must run as the unprivileged user, the way a desktop runs them.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// RequireRoot returns the test bed for a test that runs as root and acts
// as the test user itself (NewUserSession). Not root: Unavailable.
func RequireRoot(t testing.TB) *Bed {
	t.Helper()
	b := Require(t)
	if os.Getuid() != 0 {
		Unavailable(t, "this test runs as root (it restarts incusd and acts as several users); run it with 'make stress' as root")
	}
	if b.UID == 0 || b.User == "" {
		Unavailable(t, "the test bed has no unprivileged test user; run 'make testbed' as root")
	}
	return b
}

// Credential is the bed user's uid, gid and supplementary groups (its own
// group, incus-admin, ...), for exec.Cmd's SysProcAttr.
func (b *Bed) Credential() (*syscall.Credential, error) {
	return CredentialOf(strconv.Itoa(b.UID))
}

// CredentialOf is the credential of any user (a name or a numeric uid),
// with the groups /etc/group gives it.
func CredentialOf(who string) (*syscall.Credential, error) {
	u, err := user.LookupId(who)
	if err != nil {
		if u, err = user.Lookup(who); err != nil {
			return nil, fmt.Errorf("user %s: %w", who, err)
		}
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	c := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("groups of %s: %w", u.Username, err)
	}
	for _, id := range ids {
		g, _ := strconv.ParseUint(id, 10, 32)
		c.Groups = append(c.Groups, uint32(g))
	}
	return c, nil
}

// UserSession is a Session of the bed's user started by root: its session
// bus runs as the user (so kapsuled, which it activates from bin/, does
// too), and Run starts the CLIs as the user. Root may connect to the bus as
// well (the test's own clients and observers); no other uid may. The
// session has its own XDG_RUNTIME_DIR.
type UserSession struct {
	*Session
	Runtime string // XDG_RUNTIME_DIR of the session
	cred    *syscall.Credential
	busDir  string
	busCmd  *exec.Cmd
	busDone chan struct{}
}

// NewUserSession starts a session of the bed's user; kapsulerc is written
// to its config dir. The bus is stopped when the test ends.
func (b *Bed) NewUserSession(t testing.TB, kapsulerc string) *UserSession {
	t.Helper()
	cred, err := b.Credential()
	if err != nil {
		t.Fatal(err)
	}
	bin := Bin(t)
	dir, err := os.MkdirTemp("", "kapsule-us-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &UserSession{
		Session: &Session{Bed: b, Bin: bin, Config: filepath.Join(dir, "config"), State: filepath.Join(dir, "state")},
		Runtime: filepath.Join(dir, "run"),
		cred:    cred,
	}
	for _, d := range []string{dir, s.Config, s.State, s.Runtime} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, b.UID, b.GID); err != nil {
			t.Fatal(err)
		}
	}
	// Other uids may look in (stress tests try what they can reach there).
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// As NewSession: no scheduled check starts and stops the containers of
	// tests running alongside (kapsulerc may set its own).
	s.writeFile(t, filepath.Join(s.Config, "kapsulerc"), "[Updates]\nStartupDelay=24h\n"+kapsulerc)
	s.busDir = filepath.Join(dir, "bus")
	s.startBus(t)
	return s
}

// Relogin ends the session's bus (KillBus), as at logout, and starts a
// new one for the same user directories (config, state, runtime), as at
// the next login.
func (s *UserSession) Relogin(t testing.TB) {
	t.Helper()
	s.KillBus()
	if err := os.RemoveAll(s.busDir); err != nil {
		t.Fatal(err)
	}
	s.startBus(t)
}

// startBus starts the session's bus as the user, with org.kde.kapsule
// activatable from bin/.
func (s *UserSession) startBus(t testing.TB) {
	t.Helper()
	b, bin := s.Bed, s.Bin
	busDir := s.busDir
	services := filepath.Join(busDir, "services")
	for _, d := range []string{busDir, services} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, b.UID, b.GID); err != nil {
			t.Fatal(err)
		}
	}
	base := []string{
		"HOME=" + b.Home, "USER=" + b.User, "LOGNAME=" + b.User,
		"PATH=" + bin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"XDG_RUNTIME_DIR=" + s.Runtime, "XDG_CONFIG_HOME=" + s.Config, "XDG_STATE_HOME=" + s.State,
		"LANG=C.UTF-8", "KAPSULE_DEBUG=1",
	}
	// The session bus policy of StartBus, plus root: the owner may always
	// connect, root only because it is named.
	conf := fmt.Sprintf(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <servicedir>%s</servicedir>
  <policy context="default">
    <allow user="root"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`, filepath.Join(busDir, "bus"), services)
	s.writeFile(t, filepath.Join(busDir, "bus.conf"), conf)
	s.writeFile(t, filepath.Join(services, "org.kde.kapsule.service"),
		fmt.Sprintf("[D-BUS Service]\nName=org.kde.kapsule\nExec=%s/kapsuled\n", bin))

	stderr := &syncBuffer{}
	cmd := exec.Command("dbus-daemon", "--config-file="+filepath.Join(busDir, "bus.conf"), "--nofork", "--print-address=1", "--nopidfile")
	cmd.Env = base
	cmd.Dir = b.Home
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	// Services it activated keep its stderr open after it is gone.
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dbus-daemon as %s: %v", b.User, err)
	}
	done := make(chan struct{})
	s.busCmd, s.busDone = cmd, done
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() || os.Getenv("KAPSULE_TEST_LOG") != "" {
			t.Logf("session bus (pid %d) and kapsuled output:\n%s", cmd.Process.Pid, stderr.String())
		}
	})
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	select {
	case a := <-addr:
		if a == "" {
			t.Fatalf("dbus-daemon printed no address: %s", stderr.String())
		}
		s.Bus = &Bus{Address: a, ServicesDir: services, Dir: busDir, stderr: stderr}
	case <-time.After(10 * time.Second):
		t.Fatal("dbus-daemon did not start within 10 s")
	}
	s.env = append(base, "DBUS_SESSION_BUS_ADDRESS="+s.Bus.Address, "TERM=xterm-256color")
}

func (s *UserSession) writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, s.Bed.UID, s.Bed.GID); err != nil {
		t.Fatal(err)
	}
}

// Credential is the user's, as the session's processes run.
func (s *UserSession) Credential() *syscall.Credential { return s.cred }

// BusPID is the process id of the session's dbus-daemon.
func (s *UserSession) BusPID() int { return s.busCmd.Process.Pid }

// KillBus kills the session's dbus-daemon (SIGKILL) and waits for it: the
// session bus connection of everything in the session is lost.
func (s *UserSession) KillBus() {
	if s.busCmd == nil || s.busCmd.Process == nil {
		return
	}
	_ = s.busCmd.Process.Kill()
	<-s.busDone
}

// Command returns a command of the session, run as its user: one of
// Kapsule's binaries (kap, kapsule-update, kapsuled) or, with a slash or
// not one of those, a program as named.
func (s *UserSession) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := name
	switch name {
	case "kap", "kapsule", "kapsule-update", "kapsuled":
		path = filepath.Join(s.Bin, name)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = s.Env()
	cmd.Dir = s.Bed.Home
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return cmd
}

// Run runs a command of the session (see Command) as the user with stdin,
// and returns its output and exit status.
func (s *UserSession) Run(t testing.TB, stdin string, name string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	return run(t, s.Command(ctx, name, args...), stdin)
}

// Kap runs kap as the user and fails the test unless it exits 0.
func (s *UserSession) Kap(t testing.TB, args ...string) Result {
	t.Helper()
	return succeeded(t, s.Run(t, "", "kap", args...), args)
}

// Connect opens a (root) client connection to the session bus, closed
// when the test ends.
func (s *UserSession) Connect(t testing.TB) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(s.Bus.Address)
	if err != nil {
		t.Fatalf("connect to the session bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// ServicePID returns the pid of the process owning org.kde.kapsule, 0
// when no one does (it does not activate kapsuled).
func (s *UserSession) ServicePID(t testing.TB, conn *dbus.Conn) int {
	t.Helper()
	var pid uint32
	err := conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixProcessID", 0, "org.kde.kapsule").Store(&pid)
	var de dbus.Error
	if errors.As(err, &de) && de.Name == "org.freedesktop.DBus.Error.NameHasNoOwner" {
		return 0
	}
	if err != nil {
		t.Fatalf("pid of kapsuled: %v", err)
	}
	return int(pid)
}
