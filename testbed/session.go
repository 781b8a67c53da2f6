package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Bin is where `make build` puts kapsuled, kap and kapsule-update
// ($KAPSULE_BIN, else bin/ at the top of the module).
func Bin(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("KAPSULE_BIN")
	if dir == "" {
		wd, _ := os.Getwd()
		for d := wd; d != "/"; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				dir = filepath.Join(d, "bin")
				break
			}
		}
	}
	for _, b := range []string{"kapsuled", "kap"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			t.Fatalf("no %s in %s: run 'make build' first (make test-e2e does)", b, dir)
		}
	}
	return dir
}

// Session is a desktop session of the test user for one test: a private
// session bus on which org.kde.kapsule is D-Bus activatable (bin/kapsuled),
// with its own XDG config and state directories, so tests do not share
// settings or state.
type Session struct {
	Bed    *Bed
	Bus    *Bus
	Bin    string
	Config string // XDG_CONFIG_HOME
	State  string // XDG_STATE_HOME
	env    []string
}

// NewSession starts a session; kapsulerc is written to its config dir.
func (b *Bed) NewSession(t testing.TB, kapsulerc string) *Session {
	t.Helper()
	bin := Bin(t)
	dir, err := os.MkdirTemp("", "kapsule-session-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Session{Bed: b, Bin: bin, Config: filepath.Join(dir, "config"), State: filepath.Join(dir, "state")}
	for _, d := range []string{s.Config, s.State} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// Every test session is the same user and sees every test's
	// containers: no scheduled check may start and stop those of tests
	// running alongside (a test's own kapsulerc may set its own).
	kapsulerc = "[Updates]\nStartupDelay=24h\n" + kapsulerc
	if err := os.WriteFile(filepath.Join(s.Config, "kapsulerc"), []byte(kapsulerc), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{
		"HOME=" + b.Home, "USER=" + b.User, "LOGNAME=" + b.User,
		"PATH=" + bin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"XDG_RUNTIME_DIR=" + b.RuntimeDir, "XDG_CONFIG_HOME=" + s.Config, "XDG_STATE_HOME=" + s.State,
		"LANG=C.UTF-8", "KAPSULE_DEBUG=1",
	}
	s.Bus = StartBusEnv(t, false, base)
	activation := fmt.Sprintf("[D-BUS Service]\nName=org.kde.kapsule\nExec=%s/kapsuled\n", bin)
	if err := os.WriteFile(filepath.Join(s.Bus.ServicesDir, "org.kde.kapsule.service"), []byte(activation), 0o644); err != nil {
		t.Fatal(err)
	}
	s.env = append(base, "DBUS_SESSION_BUS_ADDRESS="+s.Bus.Address, "TERM=xterm-256color")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("session bus and kapsuled output:\n%s", s.Bus.Output())
		}
	})
	return s
}

// Env is the environment of a CLI run in this session.
func (s *Session) Env() []string { return append([]string{}, s.env...) }

// Result is what a command did.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs one of Kapsule's binaries (kap, kapsule-update, ...) in the
// session with stdin, from the home directory, and returns its output and
// exit status.
func (s *Session) Run(t testing.TB, stdin string, name string, args ...string) Result {
	t.Helper()
	return s.RunIn(t, s.Bed.Home, stdin, name, args...)
}

// RunIn is Run from the directory dir.
func (s *Session) RunIn(t testing.TB, dir, stdin string, name string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.Bin, name), args...)
	cmd.Env = s.env
	cmd.Dir = dir
	return run(t, cmd, stdin)
}

// run runs cmd with stdin and returns its output and exit status; a
// command that cannot be run fails the test.
func run(t testing.TB, cmd *exec.Cmd, stdin string) Result {
	t.Helper()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return Result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// Kap runs kap and fails the test unless it exits 0.
func (s *Session) Kap(t testing.TB, args ...string) Result {
	t.Helper()
	return succeeded(t, s.Run(t, "", "kap", args...), args)
}

// succeeded fails the test unless a kap run exited 0.
func succeeded(t testing.TB, r Result, args []string) Result {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("kap %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// Kill sends SIGKILL to a process of the test user (kapsuled, say).
func Kill(t testing.TB, pid int) {
	t.Helper()
	p, err := os.FindProcess(pid)
	if err == nil {
		err = p.Kill()
	}
	if err != nil {
		t.Fatalf("kill %d: %v", pid, err)
	}
}
