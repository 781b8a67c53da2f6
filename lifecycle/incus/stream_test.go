package incus

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"
)

// cat copies stdin to stdout and exits 0 at its end.
func cat(p *fakeProc) int {
	_, _ = io.Copy(p.Stdout, p.Stdin)
	return 0
}

func TestStreamRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	newFakeExec(f, cat)
	s, err := f.client().ExecStream(context.Background(), "dev", []string{"cat"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := binaryData(8 << 20)
	var wg sync.WaitGroup
	var werr error
	wg.Go(func() {
		r := rand.New(rand.NewPCG(3, 4))
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+r.IntN(100<<10))
			if _, werr = s.Write(rest[:n]); werr != nil {
				return
			}
			rest = rest[n:]
		}
		werr = s.CloseWrite()
	})
	got, err := io.ReadAll(s) // ends at the command's EOF
	wg.Wait()
	if err != nil || werr != nil {
		t.Fatalf("read %v, write %v", err, werr)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes back, not the %d written", len(got), len(data))
	}
	if code, err := s.Wait(); code != 0 || err != nil {
		t.Errorf("Wait() = %d, %v", code, err)
	}
	within(t, time.Second, s.Done(), "Done")
}

func TestStreamOneMessagePerWrite(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	x := newFakeExec(f, cat)
	s, err := f.client().ExecStream(context.Background(), "dev", []string{"cat"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{1, 1000, 70000, 0, 3}
	for _, n := range sizes {
		if got, err := s.Write(make([]byte, n)); got != n || err != nil {
			t.Fatalf("Write(%d) = %d, %v", n, got, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	p := x.lastProc()
	p.mu.Lock()
	frames := p.stdinFrames
	p.mu.Unlock()
	if want := []int{1, 1000, 70000, 3}; !reflect.DeepEqual(frames, want) {
		t.Errorf("stdin messages %v, want %v (an empty write sends nothing)", frames, want)
	}
	within(t, time.Second, p.stdinBarrier, "Close ends stdin with a barrier")
	select {
	case <-p.Killed:
		t.Error("cat was killed; it exits on stdin EOF")
	default:
	}
}

func TestStreamCommandExits(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	var stderr syncBuffer
	newFakeExec(f, func(p *fakeProc) int {
		io.WriteString(p.Stdout, "bye")
		io.WriteString(p.Stderr, "warning\n")
		return 7
	})
	s, err := f.client().ExecStream(context.Background(), "dev", []string{"x"}, map[string]string{"A": "b"}, StreamStderr(&stderr))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	within(t, 2*time.Second, s.Done(), "Done after the command exited")
	// Output that arrived before the end is still readable.
	got, err := io.ReadAll(s)
	if string(got) != "bye" || err != nil {
		t.Errorf("read %q, %v", got, err)
	}
	if code, err := s.Wait(); code != 7 || err != nil {
		t.Errorf("Wait() = %d, %v", code, err)
	}
	if stderr.String() != "warning\n" {
		t.Errorf("stderr %q", stderr.String())
	}
	if _, err := s.Write([]byte("late")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Write after the end: %v, want io.ErrClosedPipe", err)
	}
}

func TestStreamServerGone(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	x := newFakeExec(f, cat)
	s, err := f.client().ExecStream(context.Background(), "dev", []string{"cat"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	read := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, s)
		if err == nil {
			err = io.EOF
		}
		read <- err
	}()
	time.Sleep(20 * time.Millisecond)
	x.crash()
	err = within(t, time.Second, read, "Read error after incusd went away")
	if !errors.Is(err, ErrDisconnected) {
		t.Errorf("Read error %v, want ErrDisconnected", err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, ErrDisconnected) {
		t.Errorf("Write error %v, want ErrDisconnected", err)
	}
	within(t, 2*time.Second, s.Done(), "Done after incusd went away")
}

func TestStreamClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cmd        func(*fakeProc) int
		wantKilled bool
		maxClose   time.Duration
	}{
		{"command ends at stdin EOF", cat, false, closeGrace / 2},
		{"command ignores stdin EOF", untilSignal, true, closeGrace + time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			x := newFakeExec(f, tt.cmd)
			s, err := f.client().ExecStream(context.Background(), "dev", []string{"x"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			read := make(chan error, 1)
			go func() {
				_, err := s.Read(make([]byte, 10))
				read <- err
			}()
			start := time.Now()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > tt.maxClose {
				t.Errorf("Close took %v, want at most %v", d, tt.maxClose)
			}
			if err := within(t, time.Second, read, "blocked Read after Close"); err == nil {
				t.Error("Read returned no error after Close")
			}
			if _, err := s.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
				t.Errorf("Read after Close: %v", err)
			}
			if _, err := s.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Write after Close: %v, want net.ErrClosed", err)
			}
			select {
			case <-x.lastProc().Killed:
				if !tt.wantKilled {
					t.Error("command was killed")
				}
			default:
				if tt.wantKilled {
					t.Error("command was not killed")
				}
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestStreamContextKills(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	x := newFakeExec(f, untilSignal)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := f.client().ExecStream(ctx, "dev", []string{"systemd-stdio-bridge"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cancel()
	within(t, time.Second, x.lastProc().Killed, "command killed")
	if _, err := io.ReadAll(s); err != nil {
		t.Errorf("Read after the kill: %v, want EOF", err)
	}
	if _, err := s.Wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait: %v, want context.Canceled", err)
	}
}

func TestStreamUser(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	newFakeExec(f, func(*fakeProc) int { return 0 })
	s, err := f.client().ExecStream(context.Background(), "dev", []string{"id"}, nil, StreamUser(1000, 100))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	body := decodeJSON(t, f.last("POST", "/1.0/instances/dev/exec").Body)
	if body["user"] != 1000.0 || body["group"] != 100.0 || body["interactive"] != false || body["wait-for-websocket"] != true {
		t.Errorf("request %v", body)
	}
}
