package bridge

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/testbed"
)

// pkconEnv is the `kapsule-update client NAME -- pkcon ...` set-up: a
// private "system" bus on which the forwarder owns org.freedesktop.PackageKit
// itself, so that an unmodified pkcon talks to the container's PackageKit.
func pkconEnv(t *testing.T, fake func(*fakePK)) *fwdEnv {
	t.Helper()
	if _, err := exec.LookPath("pkcon"); err != nil {
		if testbed.InCI() {
			t.Fatalf("pkcon is part of the test bed: %v", err)
		}
		t.Skipf("pkcon not installed (package packagekit-tools): %v", err)
	}
	private := testbed.StartBus(t, true)
	return newEnv(t, func(ec *envConfig) {
		ec.name = pkName
		ec.session = private
		ec.fake = fake
	})
}

func runPkcon(t *testing.T, e *fwdEnv, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "pkcon", args...)
	cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+e.session.Address, "LANG=C.UTF-8", "LC_ALL=C.UTF-8")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("pkcon %s (exit %v):\n%s", strings.Join(args, " "), err, out.String())
	return out.String(), err
}

func TestPkconGetUpdatesThroughForwarder(t *testing.T) {
	t.Parallel()
	e := pkconEnv(t, nil)
	out, err := runPkcon(t, e, "--plain", "get-updates")
	if err != nil {
		t.Fatalf("pkcon get-updates: %v", err)
	}
	for _, p := range e.pk.updates {
		name, rest, _ := strings.Cut(p.ID, ";")
		version, _, _ := strings.Cut(rest, ";")
		if !strings.Contains(out, name) || !strings.Contains(out, version) {
			t.Errorf("pkcon output lacks %s %s", name, version)
		}
	}
	// pkcon asked for plural signals, and got the struct-typed Packages.
	hints := e.pk.received("SetHints")
	if len(hints) == 0 || !slices.Contains(hints[0].Body[0].([]string), "supports-plural-signals=true") {
		t.Errorf("pkcon's hints: %+v", hints)
	}
}

// TestPkconInstallThroughForwarder: pkcon adds a frontend-socket= hint for
// installs when debconf-communicate exists on the host. Without the
// forwarder removing it, PackageKit fails SetHints and pkcon aborts.
func TestPkconInstallThroughForwarder(t *testing.T) {
	t.Parallel()
	e := pkconEnv(t, nil)
	out, err := runPkcon(t, e, "--plain", "-y", "install", "hello")
	if err != nil {
		t.Fatalf("pkcon install: %v", err)
	}
	installs := e.pk.received("InstallPackages")
	if len(installs) == 0 {
		t.Fatalf("PackageKit got no InstallPackages; pkcon said:\n%s", out)
	}
	var sawReal bool
	for _, c := range installs {
		if ids := c.Body[1].([]string); !slices.Equal(ids, []string{"hello;1.1;amd64;local-repo"}) {
			t.Errorf("InstallPackages(%v)", c.Body)
		}
		if c.Body[0].(uint64)&transactionFlagsSim == 0 {
			sawReal = true
		}
	}
	if !sawReal {
		t.Errorf("pkcon never installed for real: %+v", installs)
	}
	for _, c := range e.pk.received("SetHints") {
		for _, h := range c.Body[0].([]string) {
			if strings.HasPrefix(h, "frontend-socket=") {
				t.Errorf("PackageKit received %q", h)
			}
		}
	}
}

// TestForwarderOverStdioBridge uses the production transport's far end:
// systemd-stdio-bridge, speaking the container's bus on its stdin/stdout.
func TestForwarderOverStdioBridge(t *testing.T) {
	t.Parallel()
	bridge, err := exec.LookPath("systemd-stdio-bridge")
	if err != nil {
		if testbed.InCI() {
			t.Fatalf("systemd-stdio-bridge is part of the test bed: %v", err)
		}
		t.Skipf("no systemd-stdio-bridge: %v", err)
	}
	var mu sync.Mutex
	var procs []*exec.Cmd
	var e *fwdEnv
	e = newEnv(t, func(ec *envConfig) {
		ec.fake = func(f *fakePK) { f.stallDaemonState = true }
		ec.config = func(cfg *ForwarderConfig) {
			cfg.Dial = func(ctx context.Context) (io.ReadWriteCloser, error) {
				e.dials.Add(1)
				// The link may be tied to ctx: it ends when the link is dropped.
				cmd := exec.CommandContext(ctx, bridge, "--bus-path="+e.container.Address)
				rwc, err := stdioPipe(cmd)
				if err != nil {
					return nil, err
				}
				mu.Lock()
				procs = append(procs, cmd)
				mu.Unlock()
				return rwc, nil
			}
		}
	})
	c := e.client()
	tx := e.createTx(c)
	if err := c.Object(e.name, tx).Call(pkTxIface+".GetUpdates", 0, uint64(2)).Err; err != nil {
		t.Fatal(err)
	}
	stuck := e.daemon(c).Go(pkIface+".GetDaemonState", 0, make(chan *dbus.Call, 1))
	waitUntil(t, "PackageKit has the call", func() bool { return len(e.pk.received("GetDaemonState")) == 1 })
	mu.Lock()
	_ = procs[0].Process.Kill() // the exec session ends
	mu.Unlock()
	errWithin(t, stuck, 2*time.Second, errNameNoReply, `lost the connection to container "dev"`)
	var backend string
	if err := e.daemon(c).Call(propsIface+".Get", 0, pkIface, "BackendName").Store(&backend); err != nil || backend != "fake" {
		t.Errorf("after reconnecting: %q, %v", backend, err)
	}
}

// stdioPipe starts cmd and returns its stdin and stdout as one connection;
// Close ends the process.
func stdioPipe(cmd *exec.Cmd) (io.ReadWriteCloser, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &procConn{cmd: cmd, in: in, out: out}, nil
}

type procConn struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  io.ReadCloser
	once sync.Once
}

func (p *procConn) Read(b []byte) (int, error)  { return p.out.Read(b) }
func (p *procConn) Write(b []byte) (int, error) { return p.in.Write(b) }
func (p *procConn) Close() error {
	p.once.Do(func() {
		p.in.Close()
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait() // closes out
	})
	return nil
}
