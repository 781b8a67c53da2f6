package incus

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binaryData is n bytes covering every byte value, including NUL and
// invalid UTF-8.
func binaryData(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		if i < 256 {
			b[i] = byte(i)
		} else {
			b[i] = byte(r.Uint32())
		}
	}
	return b
}

func TestExecStreamsAndExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		stdin []byte
	}{
		{"empty stdin", nil},
		{"text", []byte("hello\n")},
		{"binary, several messages", binaryData(3<<20 + 17)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			x := newFakeExec(f, catErr3)
			var stdout, stderr bytes.Buffer
			var stdin io.Reader
			if tt.stdin != nil {
				stdin = bytes.NewReader(tt.stdin)
			}
			code, err := f.client().Exec(context.Background(), "dev", Cmd{
				Command: []string{"sh", "-c", "cat; echo err >&2; exit 3"},
				Stdin:   stdin, Stdout: &stdout, Stderr: &stderr,
			})
			if err != nil {
				t.Fatal(err)
			}
			if code != 3 {
				t.Errorf("exit code %d, want 3", code)
			}
			if !bytes.Equal(stdout.Bytes(), tt.stdin) {
				t.Errorf("stdout: %d bytes, want the %d bytes of stdin", stdout.Len(), len(tt.stdin))
			}
			if stderr.String() != "err\n" {
				t.Errorf("stderr %q", stderr.String())
			}
			p := x.lastProc()
			within(t, time.Second, p.stdinBarrier, "stdin barrier (an empty text message)")
			if n := p.outputWrites.Load(); n != 0 {
				t.Errorf("client sent %d messages on stdout/stderr; incusd kills the command for that", n)
			}
		})
	}
}

func TestExecRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cmd  Cmd
		want map[string]any
	}{
		{"defaults", Cmd{Command: []string{"true"}}, map[string]any{
			"command": []any{"true"}, "environment": map[string]any{},
			"wait-for-websocket": true, "interactive": false,
		}},
		{"user, group, cwd, env", Cmd{Command: []string{"id"}, User: 1000, Group: 1001, Cwd: "/home/a", Env: map[string]string{"FOO": "a b"}},
			map[string]any{
				"command": []any{"id"}, "environment": map[string]any{"FOO": "a b"},
				"wait-for-websocket": true, "interactive": false,
				"user": 1000.0, "group": 1001.0, "cwd": "/home/a",
			}},
		{"interactive", Cmd{Command: []string{"bash"}, Interactive: true, Width: 80, Height: 24}, map[string]any{
			"command": []any{"bash"}, "environment": map[string]any{},
			"wait-for-websocket": true, "interactive": true, "width": 80.0, "height": 24.0,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			newFakeExec(f, func(*fakeProc) int { return 0 })
			if _, err := f.client().Exec(context.Background(), "dev", tt.cmd); err != nil {
				t.Fatal(err)
			}
			got := decodeJSON(t, f.last("POST", "/1.0/instances/dev/exec").Body)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("request\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestExecNoCommand(t *testing.T) {
	t.Parallel()
	_, err := NewUnix("/nonexistent").Exec(context.Background(), "dev", Cmd{})
	if err == nil || !strings.Contains(err.Error(), "no command") {
		t.Fatalf("err = %v", err)
	}
}

func TestExecSignal(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	newFakeExec(f, untilSignal)
	p, err := f.client().StartExec(context.Background(), "dev", Cmd{Command: []string{"sleep", "infinity"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := p.Wait()
	if err != nil || code != 128+15 {
		t.Fatalf("Wait() = %d, %v; want 143", code, err)
	}
	select {
	case <-p.Done():
	default:
		t.Error("Done not closed after Wait")
	}
}

func TestExecContextKills(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	x := newFakeExec(f, untilSignal)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := f.client().StartExec(ctx, "dev", Cmd{Command: []string{"sleep", "infinity"}})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan struct{})
	var code int
	go func() { code, err = p.Wait(); close(done) }()
	within(t, 2*time.Second, done, "Wait after cancel")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if code != 137 {
		t.Errorf("exit code %d, want 137", code)
	}
	within(t, time.Second, x.lastProc().Killed, "command killed")
}

func TestExecStdoutWriteErrorKeepsDraining(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	x := newFakeExec(f, catErr3)
	code, err := f.client().Exec(context.Background(), "dev", Cmd{
		Command: []string{"cat"},
		Stdin:   bytes.NewReader(binaryData(1 << 20)),
		Stdout:  failingWriter{},
	})
	if code != 3 || err == nil || !strings.Contains(err.Error(), "stdout: disk full") {
		t.Fatalf("Exec = %d, %v; want 3 and the stdout error", code, err)
	}
	if n := x.lastProc().outputWrites.Load(); n != 0 {
		t.Errorf("client sent %d messages on stdout/stderr", n)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestExecCommandNotFound(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	x := newFakeExec(f, nil)
	x.cmd = func(p *fakeProc) int {
		p.mu.Lock()
		p.err = "Command not found" // as incusd 6.0.4 reports it, with return 127
		p.mu.Unlock()
		return 127
	}
	code, err := f.client().Exec(context.Background(), "dev", Cmd{Command: []string{"nonexistent"}})
	if code != 127 {
		t.Errorf("exit code %d, want 127", code)
	}
	if want := `exec "nonexistent" in instance "dev": command not found`; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func TestExecInteractive(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	x := newFakeExec(f, func(p *fakeProc) int {
		// A terminal echoing a line, reporting resizes until "exit".
		buf := make([]byte, 64)
		for {
			select {
			case msg := <-p.Control:
				if msg.Command == "window-resize" {
					io.WriteString(p.Stdout, "size "+msg.Args["height"]+" "+msg.Args["width"]+"\r\n")
				}
				continue
			default:
			}
			n, err := p.Stdin.Read(buf)
			if err != nil {
				return 1
			}
			p.Stdout.Write(buf[:n])
			if strings.Contains(string(buf[:n]), "exit") {
				return 0
			}
		}
	})
	stdinR, stdinW := io.Pipe()
	var out syncBuffer
	p, err := f.client().StartExec(context.Background(), "dev", Cmd{
		Command: []string{"bash"}, Interactive: true, Width: 80, Height: 24,
		Stdin: stdinR, Stdout: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Resize(100, 40); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	io.WriteString(stdinW, "hi\n")
	io.WriteString(stdinW, "exit\n")
	code, err := p.Wait()
	stdinW.Close()
	if err != nil || code != 0 {
		t.Fatalf("Wait() = %d, %v", code, err)
	}
	if got := out.String(); !strings.Contains(got, "size 40 100") || !strings.Contains(got, "hi\n") {
		t.Errorf("terminal output %q", got)
	}
	within(t, time.Second, x.lastProc().clientBarrier, "client's end of the terminal stream")
}

func TestExecPingsAnswered(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	x := newFakeExec(f, untilSignal)
	x.pingEvery = 5 * time.Millisecond
	p, err := f.client().StartExec(context.Background(), "dev", Cmd{Command: []string{"sleep", "infinity"}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for x.lastProc().pongs.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := x.lastProc().pongs.Load(); n < 4 {
		t.Errorf("%d pongs on stdin and control", n)
	}
	p.Signal(syscall.SIGTERM)
	p.Wait()
}

func TestExecServerGone(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	x := newFakeExec(f, untilSignal)
	p, err := f.client().StartExec(context.Background(), "dev", Cmd{Command: []string{"sleep", "infinity"}})
	if err != nil {
		t.Fatal(err)
	}
	x.crash()
	done := make(chan struct{})
	go func() { _, err = p.Wait(); close(done) }()
	within(t, 2*time.Second, done, "Wait after the server went away")
	if !errors.Is(err, ErrDisconnected) {
		t.Errorf("err = %v, want ErrDisconnected", err)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
