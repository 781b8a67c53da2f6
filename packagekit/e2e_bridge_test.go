//go:build e2e

package packagekit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"invent.kde.org/kapsule/kapsule/testbed"
)

// execStream is the stdin and stdout of `incus exec -T C --
// systemd-stdio-bridge`: a byte stream to the container's system bus. It
// stands in for Kapsule's Incus client (lifecycle/incus), which will
// provide the same stream over the REST API.
type execStream struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr *syncBuffer

	once sync.Once
}

func (s *execStream) Read(p []byte) (int, error)  { return s.stdout.Read(p) }
func (s *execStream) Write(p []byte) (int, error) { return s.stdin.Write(p) }

// Close ends the bridge: it kills the incus client, which makes Incus kill
// the bridge in the container.
func (s *execStream) Close() error {
	s.once.Do(func() {
		_ = s.stdin.Close()
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	})
	return nil
}

// incusBridge dials the system bus of a container.
func incusBridge(container string) Dialer {
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Not CommandContext: the stream outlives the dial's context.
		cmd := exec.Command("incus", "exec", "-T", container, "--", "systemd-stdio-bridge")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		stderr := &syncBuffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start incus exec: %w", err)
		}
		return &execStream{cmd: cmd, stdin: stdin, stdout: stdout, stderr: stderr}, nil
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// e2eContainer launches a container from the test image and returns a
// Client for its PackageKit, reached through systemd-stdio-bridge.
func e2eContainer(t *testing.T, prefix string) (string, *Client) {
	t.Helper()
	bed := testbed.RequireUser(t)
	name := bed.Launch(t, prefix)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	pk, err := Dial(ctx, incusBridge(name), DefaultDestination)
	if err != nil {
		t.Fatalf("dial the PackageKit of %s: %v", name, err)
	}
	t.Logf("connected to the system bus of %s in %v", name, time.Since(t0).Round(time.Millisecond))
	t.Cleanup(func() { _ = pk.Close() })
	return name, pk
}

// e2eCtx bounds one end-to-end test.
func e2eCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// dpkgStatus returns dpkg's status and version of a package in the
// container, e.g. "installed 1.0", or "" when dpkg does not know it.
func dpkgStatus(t *testing.T, container, pkg string) string {
	t.Helper()
	out, err := testbed.IncusErr("exec", container, "--", "dpkg-query", "-W", "-f=${db:Status-Status} ${Version}", pkg)
	if err != nil {
		if strings.Contains(err.Error(), "no packages found") {
			return ""
		}
		t.Fatalf("dpkg-query %s: %v", pkg, err)
	}
	return out
}

// holdDpkgLock holds dpkg's locks in the container (dpkg --set-selections
// waiting for input) until the returned function is called.
func holdDpkgLock(t *testing.T, container string) (release func()) {
	t.Helper()
	cmd := exec.Command("incus", "exec", "-T", container, "--", "dpkg", "--set-selections")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_ = stdin.Close()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(release)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := testbed.IncusErr("exec", container, "--", "lslocks", "-n", "-o", "PATH")
		if strings.Contains(out, "/var/lib/dpkg/lock-frontend") {
			return release
		}
		if time.Now().After(deadline) {
			t.Fatalf("dpkg did not take its lock in %s", container)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Short names for the test image's fixture.
const (
	fixture      = testbed.Fixture
	fixtureExtra = testbed.FixtureExtra
	fixtureRepo  = testbed.FixtureRepo
)

// updateKinds are the infos GetUpdates gives an update.
var updateKinds = []Info{InfoLow, InfoEnhancement, InfoNormal, InfoBugfix, InfoImportant, InfoSecurity, InfoCritical}

// appendNew appends v unless it repeats the last element.
func appendNew[T comparable](s []T, v T) []T {
	if len(s) > 0 && s[len(s)-1] == v {
		return s
	}
	return append(s, v)
}
