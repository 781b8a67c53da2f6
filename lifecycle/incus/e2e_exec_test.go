//go:build e2e

package incus_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
	"invent.kde.org/kapsule/kapsule/testbed"
)

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range 256 { // every byte value, NUL and invalid UTF-8 first
		b[i] = byte(i)
	}
	return b
}

// TestExecE2E runs non-interactive commands in one container.
func TestExecE2E(t *testing.T) {
	t.Parallel()
	c, bed := e2eClient(t)
	name := bed.Launch(t, "exec")

	t.Run("stdin, stdout, stderr and exit code", func(t *testing.T) {
		t.Parallel()
		ctx := timeout(t, time.Minute)
		in := randomBytes(t, 3<<20+5)
		var stdout, stderr bytes.Buffer
		code, err := c.Exec(ctx, name, incus.Cmd{
			Command: []string{"sh", "-c", "cat; echo err >&2; exit 3"},
			Stdin:   bytes.NewReader(in), Stdout: &stdout, Stderr: &stderr,
		})
		if err != nil {
			t.Fatal(err)
		}
		if code != 3 {
			t.Errorf("exit code %d, want 3", code)
		}
		if !bytes.Equal(stdout.Bytes(), in) {
			t.Errorf("stdout: %d bytes, not the %d bytes of stdin", stdout.Len(), len(in))
		}
		if stderr.String() != "err\n" {
			t.Errorf("stderr %q", stderr.String())
		}
	})

	t.Run("environment, user, group and working directory", func(t *testing.T) {
		t.Parallel()
		var stdout bytes.Buffer
		code, err := c.Exec(timeout(t, time.Minute), name, incus.Cmd{
			Command: []string{"sh", "-c", `id -u; id -g; pwd; printf '%s' "$FOO"`},
			Env:     map[string]string{"FOO": "two words\ttab"},
			User:    1000, Group: 1001, Cwd: "/tmp",
			Stdout: &stdout,
		})
		if err != nil || code != 0 {
			t.Fatalf("Exec = %d, %v", code, err)
		}
		if want := "1000\n1001\n/tmp\ntwo words\ttab"; stdout.String() != want {
			t.Errorf("stdout %q, want %q", stdout.String(), want)
		}
	})

	t.Run("output larger than any buffer", func(t *testing.T) {
		t.Parallel()
		var n countingWriter
		code, err := c.Exec(timeout(t, time.Minute), name, incus.Cmd{
			Command: []string{"head", "-c", "20000000", "/dev/zero"}, Stdout: &n,
		})
		if err != nil || code != 0 || n != 20000000 {
			t.Errorf("Exec = %d, %v; %d bytes of stdout", code, err, n)
		}
	})

	t.Run("stdout closed before the end", func(t *testing.T) {
		t.Parallel()
		code, err := c.Exec(timeout(t, time.Minute), name, incus.Cmd{
			Command: []string{"sh", "-c", "exec >&- 2>&-; sleep 0.5; exit 4"},
		})
		if err != nil || code != 4 {
			t.Errorf("Exec = %d, %v; want 4 (the command must not be killed when its output ends)", code, err)
		}
	})

	t.Run("signal", func(t *testing.T) {
		t.Parallel()
		var out syncBuffer
		p, err := c.StartExec(timeout(t, time.Minute), name, incus.Cmd{
			Command: []string{"sh", "-c", "trap 'echo got TERM; exit 42' TERM; echo ready; while :; do sleep 0.05; done"},
			Stdout:  &out,
		})
		if err != nil {
			t.Fatal(err)
		}
		if !eventually(10*time.Second, func() bool { return strings.Contains(out.String(), "ready") }) {
			t.Fatalf("never ready: %q", out.String())
		}
		// sh is the process Incus signals.
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		code, err := p.Wait()
		if err != nil || code != 42 || !strings.Contains(out.String(), "got TERM") {
			t.Errorf("Wait = %d, %v; output %q", code, err, out.String())
		}
	})

	t.Run("cancelling the context kills the command", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var out syncBuffer
		p, err := c.StartExec(ctx, name, incus.Cmd{
			Command: []string{"sh", "-c", "echo started; exec sleep 613"}, Stdout: &out,
		})
		if err != nil {
			t.Fatal(err)
		}
		if !eventually(10*time.Second, func() bool { return strings.Contains(out.String(), "started") }) {
			t.Fatalf("never started: %q", out.String())
		}
		// No pgrep in a minbase image: look through /proc.
		running := func() int {
			code, err := c.Exec(timeout(t, time.Minute), name, incus.Cmd{Command: []string{"sh", "-c",
				`for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' < "$f" 2>/dev/null | grep -q '^sleep 613' && exit 0; done; exit 1`}})
			if err != nil {
				t.Fatal(err)
			}
			return code
		}
		if n := running(); n != 0 {
			t.Fatalf("search for the running command: exit %d, want 0 (found)", n)
		}
		cancel()
		done := make(chan struct{})
		var code int
		go func() { code, err = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Wait did not return within 5 s of the cancel")
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Wait = %d, %v; want context.Canceled", code, err)
		}
		if n := running(); n != 1 {
			t.Errorf("search for the command after the cancel: exit %d; want 1 (not found)", n)
		}
	})

	t.Run("command not found", func(t *testing.T) {
		t.Parallel()
		code, err := c.Exec(timeout(t, time.Minute), name, incus.Cmd{Command: []string{"no-such-command-here"}})
		if code != 127 || err == nil || !strings.Contains(err.Error(), "command not found") {
			t.Errorf("Exec = %d, %v; want 127 and an error", code, err)
		}
	})

	t.Run("unknown instance", func(t *testing.T) {
		t.Parallel()
		_, err := c.Exec(timeout(t, time.Minute), testbed.Name("nope"), incus.Cmd{Command: []string{"true"}})
		if !errors.Is(err, incus.ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
}

type countingWriter int

func (w *countingWriter) Write(p []byte) (int, error) {
	*w += countingWriter(len(p))
	return len(p), nil
}

// TestInteractiveExecE2E runs a shell on a terminal and resizes it.
func TestInteractiveExecE2E(t *testing.T) {
	t.Parallel()
	c, bed := e2eClient(t)
	name := bed.Launch(t, "pty")
	ctx := timeout(t, time.Minute)
	stdinR, stdinW := io.Pipe()
	defer stdinW.Close()
	var out syncBuffer
	p, err := c.StartExec(ctx, name, incus.Cmd{
		Command:     []string{"sh", "-c", "tty; stty size; read x; stty size; exit 5"},
		Interactive: true, Width: 80, Height: 24,
		Stdin: stdinR, Stdout: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !eventually(10*time.Second, func() bool { return strings.Contains(out.String(), "24 80") }) {
		t.Fatalf("initial size not seen: %q", out.String())
	}
	if err := p.Resize(132, 43); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the resize and the input travel on different sockets
	if _, err := io.WriteString(stdinW, "go\r"); err != nil {
		t.Fatal(err)
	}
	code, err := p.Wait()
	if err != nil || code != 5 {
		t.Fatalf("Wait = %d, %v; output %q", code, err, out.String())
	}
	got := out.String()
	if !strings.Contains(got, "/dev/pts/") || !strings.Contains(got, "43 132") {
		t.Errorf("terminal output %q: want a pts and the new size 43 132", got)
	}
}

// TestExecStreamE2E moves bytes through a long-lived command's stdin and
// stdout, and D-Bus through systemd-stdio-bridge.
func TestExecStreamE2E(t *testing.T) {
	t.Parallel()
	c, bed := e2eClient(t)
	name := bed.Launch(t, "stream")

	t.Run("cat echoes large binary data", func(t *testing.T) {
		t.Parallel()
		ctx := timeout(t, 2*time.Minute)
		var stderr syncBuffer
		s, err := c.ExecStream(ctx, name, []string{"cat"}, nil, incus.StreamStderr(&stderr))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		data := randomBytes(t, 16<<20)
		var wg sync.WaitGroup
		var werr error
		wg.Go(func() {
			for rest, n := data, 1; len(rest) > 0; n = n*7%(256<<10) + 1 {
				n = min(n, len(rest))
				if _, werr = s.Write(rest[:n]); werr != nil {
					return
				}
				rest = rest[n:]
			}
			werr = s.CloseWrite()
		})
		got, err := io.ReadAll(s)
		wg.Wait()
		if err != nil || werr != nil {
			t.Fatalf("read: %v, write: %v", err, werr)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes, not the %d written", len(got), len(data))
		}
		if code, err := s.Wait(); code != 0 || err != nil {
			t.Errorf("Wait = %d, %v (stderr %q)", code, err, stderr.String())
		}
	})

	t.Run("incusd answers pings while data flows and after the command ended", func(t *testing.T) {
		t.Parallel()
		s, err := c.ExecStream(timeout(t, time.Minute), name, []string{"cat"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for i := range 5 {
			if _, err := s.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err := s.Ping(ctx)
			cancel()
			if err != nil {
				t.Fatalf("ping %d: %v", i, err)
			}
		}
		if err := s.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(s); err != nil {
			t.Fatal(err)
		}
		<-s.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.Ping(ctx); err == nil || !strings.Contains(err.Error(), "ended") {
			t.Errorf("ping after the command ended: %v, want an error saying so", err)
		}
	})

	t.Run("round trip latency", func(t *testing.T) {
		t.Parallel()
		s, err := c.ExecStream(timeout(t, time.Minute), name, []string{"cat"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		buf := make([]byte, 64)
		var rtts []time.Duration
		for i := range 200 {
			msg := []byte{byte(i), 0, 0xff}
			start := time.Now()
			if _, err := s.Write(msg); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(s, buf[:len(msg)]); err != nil {
				t.Fatal(err)
			}
			rtts = append(rtts, time.Since(start))
			if !bytes.Equal(buf[:len(msg)], msg) {
				t.Fatalf("echo %x, want %x", buf[:len(msg)], msg)
			}
		}
		sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
		median := rtts[len(rtts)/2]
		t.Logf("round trip through incusd and cat: median %v, p90 %v", median, rtts[len(rtts)*9/10])
		if median > 5*time.Millisecond {
			t.Errorf("median round trip %v: more than 5 ms", median)
		}
	})

	t.Run("D-Bus through systemd-stdio-bridge", func(t *testing.T) {
		t.Parallel()
		testbed.WaitSystemd(t, name)
		var stderr syncBuffer
		s, err := c.ExecStream(timeout(t, time.Minute), name, []string{"systemd-stdio-bridge"}, nil, incus.StreamStderr(&stderr))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		start := time.Now()
		conn, err := dbus.NewConn(s)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.Auth(nil); err != nil {
			t.Fatalf("auth: %v (bridge stderr %q)", err, stderr.String())
		}
		if err := conn.Hello(); err != nil {
			t.Fatalf("hello: %v (bridge stderr %q)", err, stderr.String())
		}
		t.Logf("connected to the container's system bus in %v as %s", time.Since(start), conn.Names()[0])
		var names []string
		if err := conn.BusObject().Call("org.freedesktop.DBus.ListNames", 0).Store(&names); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(names, "org.freedesktop.DBus") || !slices.Contains(names, conn.Names()[0]) {
			t.Errorf("ListNames = %v", names)
		}
		var uid uint32
		if err := conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixUser", 0, conn.Names()[0]).Store(&uid); err != nil {
			t.Fatal(err)
		}
		if uid != 0 {
			t.Errorf("the bridge is uid %d on the container bus, want 0", uid)
		}
	})
}

// TestExecStreamEndsWhenInstanceStopsE2E: stopping the container ends the
// stream promptly; a D-Bus client sees its connection drop.
func TestExecStreamEndsWhenInstanceStopsE2E(t *testing.T) {
	t.Parallel()
	c, bed := e2eClient(t)
	name := bed.Launch(t, "stream-stop")
	ctx := timeout(t, 2*time.Minute)
	s, err := c.ExecStream(ctx, name, []string{"cat"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := s.Read(buf)
		readErr <- err
	}()
	mustWait(t, ctx)(c.StopInstance(ctx, name, incus.StopOptions{Timeout: 30 * time.Second}))
	stopped := time.Now()
	select {
	case err := <-readErr:
		if err == nil {
			t.Error("Read returned no error")
		}
		t.Logf("Read after the stop: %v (%v after the stop finished)", err, time.Since(stopped))
	case <-time.After(time.Second):
		t.Fatal("Read still blocked 1 s after the container stopped")
	}
	select {
	case <-s.Done():
	case <-time.After(time.Second):
		t.Error("stream not done 1 s after the container stopped")
	}
}
