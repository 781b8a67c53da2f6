//go:build e2e

package main

// Stock pkcon (packagekit-tools) against a container through
// `kapsule-update client NAME -- pkcon ...`: a private bus on which the
// container's PackageKit is org.freedesktop.PackageKit.

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"invent.kde.org/kapsule/kapsule/testbed"
)

// clientRunner runs `kapsule-update client C -- ARGS` in a session with an
// XDG_RUNTIME_DIR of its own, so that what the client leaves there can be
// checked exactly.
type clientRunner struct {
	s         *testbed.Session
	container string
	runtime   string // XDG_RUNTIME_DIR of the runs
	env       []string
}

func newClientRunner(t *testing.T, s *testbed.Session, container string) *clientRunner {
	rt := shortTempDir(t, "kt-rt-")
	return &clientRunner{s: s, container: container, runtime: rt, env: withEnv(s.Env(), "XDG_RUNTIME_DIR", rt)}
}

// run runs the command and checks that the private bus is gone afterwards.
func (c *clientRunner) run(t *testing.T, stdin string, args ...string) testbed.Result {
	t.Helper()
	r := runEnv(t, c.s.Bed.Home, c.env, stdin, filepath.Join(c.s.Bin, "kapsule-update"), append([]string{"client", c.container, "--"}, args...)...)
	c.checkClean(t)
	return r
}

// checkClean fails the test if a private bus directory or a process of one
// is left.
func (c *clientRunner) checkClean(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(c.runtime, "kapsule"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind in $XDG_RUNTIME_DIR/kapsule: %s", e.Name())
	}
	if pids := processesMentioning(c.runtime); len(pids) > 0 {
		t.Errorf("processes left behind that use %s: %v", c.runtime, pids)
	}
}

// processesMentioning returns the processes whose command line contains s.
func processesMentioning(s string) []string {
	dirs, _ := os.ReadDir("/proc")
	var out []string
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), s) {
			out = append(out, d.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}

// pkcon runs pkcon through the client, fails the test unless it exits with
// code, and returns the lines of its "Results:" section with runs of
// spaces squeezed.
func (c *clientRunner) pkcon(t *testing.T, code int, args ...string) []string {
	t.Helper()
	r := c.run(t, "", append([]string{"pkcon"}, args...)...)
	if r.Code != code {
		t.Fatalf("pkcon %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, code, r.Stdout, r.Stderr)
	}
	var results []string
	in := false
	for _, line := range strings.Split(r.Stdout, "\n") {
		if line == "Results:" {
			in = true
			continue
		}
		if f := strings.Fields(line); in && len(f) > 0 {
			results = append(results, strings.Join(f, " "))
		}
	}
	t.Logf("pkcon %s: results %q", strings.Join(args, " "), results)
	return results
}

func TestPkconThroughClient(t *testing.T) {
	t.Parallel()
	s := pkSession(t, "")
	c, _ := pkContainer(t, s, "pkcon")
	cl := newClientRunner(t, s, c)

	// Each step builds on the one before (the cache, installs, the update).
	if got := cl.pkcon(t, 0, "get-updates"); len(got) != 1 || !strings.HasSuffix(got[0], " kapsule-fixture-1.1.all (local)") {
		t.Errorf("get-updates results %q, want exactly kapsule-fixture-1.1.all", got)
	}
	if got := cl.pkcon(t, 0, "refresh"); !slices.Contains(got, "Enabled file:"+fixtureRepo+" ./ Packages") {
		t.Errorf("refresh results %q, want the fixture repository's Packages fetched", got)
	}
	// A bare "kapsule-fixture" is ambiguous (installed 1.0, available
	// 1.1; apt's Resolve also lists 1.1 twice, directly too): pkcon would
	// ask which one. A filter or a package ID picks one.
	for _, tc := range []struct {
		args         []string
		pkg, summary string
	}{
		{[]string{"--filter", "installed", "get-details", fixture}, "kapsule-fixture-1.0.all", "Kapsule test bed fixture (1.0)"},
		{[]string{"get-details", fixtureUpdate}, "kapsule-fixture-1.1.all", "Kapsule test bed fixture (1.1)"},
	} {
		got := cl.pkcon(t, 0, tc.args...)
		if !slices.Contains(got, "package: "+tc.pkg) || !slices.Contains(got, "summary: "+tc.summary) ||
			!slices.Contains(got, "description: A tiny package used to give test containers a pending update offline.") {
			t.Errorf("pkcon %s: results %q, want the details of %s", strings.Join(tc.args, " "), got, tc.pkg)
		}
	}
	want := []string{"Installed kapsule-fixture-1.0.all (manual:local)", "Available kapsule-fixture-extra-1.0.all (local)"}
	if got := cl.pkcon(t, 0, "search", "name", fixture); !slices.Equal(got, want) {
		t.Errorf("search name results %q, want %q", got, want)
	}

	// What changes packages is checked with dpkg, not by pkcon's Results:
	// PackageKit 1.2.6's apt backend reads dpkg's progress only while dpkg
	// runs, so when dpkg is quick it sometimes reports no package at all
	// (seen directly on the container's bus too, both upstream and on the
	// session bus, in the same transaction).
	cl.pkcon(t, 0, "-y", "install", fixtureExtra)
	if got := dpkgStatus(t, s, c, fixtureExtra); got != "installed 1.0" {
		t.Fatalf("dpkg after pkcon install: %q, want installed 1.0", got)
	}
	cl.pkcon(t, 0, "-y", "remove", fixtureExtra)
	if got := dpkgStatus(t, s, c, fixtureExtra); got != "" {
		t.Errorf("dpkg after pkcon remove: %q, want the package gone", got)
	}

	repos := cl.pkcon(t, 0, "repo-list")
	if len(repos) != 1 || !strings.HasPrefix(repos[0], "Enabled ") || !strings.Contains(repos[0], "file:"+fixtureRepo+"/ ./") {
		t.Errorf("repo-list results %q, want the fixture repository, enabled", repos)
	}

	// pkcon has no simulate option (it simulates by itself before an update
	// and asks only when more than the named packages change): download
	// only is the dry run.
	if got := cl.pkcon(t, 0, "-y", "--only-download", "update"); !slices.Equal(got, []string{"Downloaded kapsule-fixture-1.1.all (local)"}) {
		t.Errorf("update --only-download results %q", got)
	}
	if got := dpkgStatus(t, s, c, fixture); got != "installed 1.0" {
		t.Fatalf("dpkg after update --only-download: %q, want installed 1.0", got)
	}
	cl.pkcon(t, 0, "-y", "update")
	if got := dpkgStatus(t, s, c, fixture); got != "installed 1.1" {
		t.Fatalf("dpkg after pkcon update: %q, want installed 1.1", got)
	}

	// pkcon's own exit statuses come through: 5 is "nothing useful was
	// done", 4 "not found", 1 a failure.
	r := cl.run(t, "", "pkcon", "get-updates")
	if r.Code != 5 || !strings.Contains(r.Stdout, "There are no updates available at this time.") {
		t.Errorf("get-updates with nothing pending: exit %d, want 5\n%s", r.Code, r.Stdout)
	}
	r = cl.run(t, "", "pkcon", "-y", "install", "no-such-package-kapsule")
	if r.Code != 4 || !strings.Contains(r.Stdout, "Package not found: no-such-package-kapsule") {
		t.Errorf("install of a missing package: exit %d, want 4\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = cl.run(t, "", "pkcon", "no-such-verb")
	if r.Code != 1 || !strings.Contains(r.Stderr+r.Stdout, "Option 'no-such-verb' is not supported") {
		t.Errorf("pkcon no-such-verb: exit %d, want 1\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestClientPassesStatusAndCleansUp(t *testing.T) {
	t.Parallel()
	s := pkSession(t, "")
	c, _ := pkContainer(t, s, "client")
	cl := newClientRunner(t, s, c)

	t.Run("the command sees the private bus as its system bus", func(t *testing.T) {
		r := cl.run(t, "", "sh", "-c", `echo "$DBUS_SYSTEM_BUS_ADDRESS"`)
		dir := filepath.Join(cl.runtime, "kapsule") + "/"
		addr := strings.TrimSpace(r.Stdout)
		path, _, _ := strings.Cut(strings.TrimPrefix(addr, "unix:path="), ",")
		if r.Code != 0 || !strings.HasPrefix(addr, "unix:path="+dir) || filepath.Base(path) != "bus" {
			t.Fatalf("DBUS_SYSTEM_BUS_ADDRESS=%q (exit %d), want a socket under %s", addr, r.Code, dir)
		}
		if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
			t.Errorf("%s still exists: %v", filepath.Dir(path), err)
		}
	})

	for _, code := range []int{0, 1, 42, 125, 255} {
		t.Run("exit status "+strconv.Itoa(code), func(t *testing.T) {
			r := cl.run(t, "", "sh", "-c", "echo out; echo err >&2; exit "+strconv.Itoa(code))
			if r.Code != code || r.Stdout != "out\n" || r.Stderr != "err\n" {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, out, err", r.Code, r.Stdout, r.Stderr, code)
			}
		})
	}
	t.Run("stdin passed", func(t *testing.T) {
		if r := cl.run(t, "a\nb\n", "wc", "-l"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "2" {
			t.Errorf("wc -l: exit %d, %q", r.Code, r.Stdout)
		}
	})
	t.Run("a command killed by a signal gives 128+N", func(t *testing.T) {
		if r := cl.run(t, "", "sh", "-c", "kill -KILL $$"); r.Code != 128+int(syscall.SIGKILL) {
			t.Errorf("exit %d, want %d", r.Code, 128+int(syscall.SIGKILL))
		}
	})
	t.Run("a missing command", func(t *testing.T) {
		r := cl.run(t, "", "no-such-command-kapsule")
		if r.Code != 125 || !strings.Contains(r.Stderr, "no-such-command-kapsule") {
			t.Errorf("exit %d, stderr %q; want 125 naming the command", r.Code, r.Stderr)
		}
	})
	t.Run("a missing container", func(t *testing.T) {
		other := &clientRunner{s: s, container: testbed.Name("missing"), runtime: cl.runtime, env: cl.env}
		r := other.run(t, "", "true")
		if r.Code != 125 || !strings.Contains(r.Stderr, "no container "+strconv.Quote(other.container)) {
			t.Errorf("exit %d, stderr %q; want 125 naming the container", r.Code, r.Stderr)
		}
	})

	// Ctrl-C reaches the whole foreground process group; SIGTERM (systemd,
	// kill) only kapsule-update, which hands it on. Either way the command
	// ends, its status comes back as 128+N and nothing is left behind.
	for _, tc := range []struct {
		name  string
		sig   syscall.Signal
		group bool
	}{
		{"Ctrl-C", syscall.SIGINT, true},
		{"SIGTERM to kapsule-update", syscall.SIGTERM, false},
		{"SIGHUP to kapsule-update", syscall.SIGHUP, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(cl.runtime, "child.pid")
			t.Cleanup(func() { os.Remove(pidFile) })
			cmd := exec.Command(filepath.Join(s.Bin, "kapsule-update"), "client", c, "--", "sh", "-c", `echo $$ > "$0"; exec sleep 120`, pidFile)
			cmd.Dir, cmd.Env = s.Bed.Home, cl.env
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			var child int
			t.Cleanup(func() {
				if child > 0 {
					_ = syscall.Kill(child, syscall.SIGKILL)
				}
			})
			deadline := time.Now().Add(60 * time.Second)
			for child == 0 {
				if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
					child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
				}
				if time.Now().After(deadline) {
					t.Fatal("the command did not start within 60 s")
				}
				time.Sleep(50 * time.Millisecond)
			}
			pid := cmd.Process.Pid
			if tc.group {
				pid = -pid
			}
			if err := syscall.Kill(pid, tc.sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("kapsule-update did not end within 10 s of the signal")
			}
			if got, want := cmd.ProcessState.ExitCode(), 128+int(tc.sig); got != want {
				t.Errorf("exit status %d (%v), want %d", got, cmd.ProcessState, want)
			}
			if err := syscall.Kill(child, 0); err == nil {
				t.Errorf("the command (pid %d) still runs", child)
			}
			cl.checkClean(t)
		})
	}
}

// TestCtrlCCancelsPkconThroughClient presses Ctrl-C (SIGINT to the
// foreground process group) while pkcon installs through the client: pkcon
// cancels its transaction, which needs the private bus and the forwarder
// to outlive the Ctrl-C.
func TestCtrlCCancelsPkconThroughClient(t *testing.T) {
	t.Parallel()
	s := pkSession(t, "")
	c, _ := pkContainer(t, s, "ctrlc")
	cl := newClientRunner(t, s, c)
	release := holdDpkgLock(t, c)

	var out syncBuffer
	cmd := exec.Command(filepath.Join(s.Bin, "kapsule-update"), "client", c, "--", "pkcon", "-y", "install", fixtureExtra)
	cmd.Dir, cmd.Env = s.Bed.Home, cl.env
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	waitOutput := func(what string, d time.Duration) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !strings.Contains(out.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("pkcon did not print %q within %v:\n%s", what, d, out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitOutput("Waiting for package manager lock", 60*time.Second)
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// PackageKit got pkcon's Cancel: the transaction reports it.
	waitOutput("Status: \tCancelling", 10*time.Second)
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("pkcon did not end within 3 min of Ctrl-C:\n%s", out.String())
	}
	t.Logf("kapsule-update exited with %d after Ctrl-C", cmd.ProcessState.ExitCode())
	release()
	cl.checkClean(t)
	if got := dpkgStatus(t, s, c, fixtureExtra); got != "" {
		t.Errorf("dpkg: %s is %q after the cancelled install", fixtureExtra, got)
	}
}
