package incus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Stream is a long-lived command whose stdin and stdout form a
// bidirectional byte stream (e.g. systemd-stdio-bridge speaking D-Bus): it
// writes to the command's stdin and reads from its stdout, one websocket
// message per Write, binary-safe. One goroutine may Read while another
// Writes.
//
// Read returns io.EOF once the command has closed its stdout (it exited,
// or the instance stopped), and an error matching ErrDisconnected when the
// connection to Incus broke (incusd stopped).
type Stream struct {
	p      *Process
	out    *wsReader
	closed atomic.Bool
	once   sync.Once

	ctl    *websocket.Conn // the control websocket, which incusd always reads: it answers pings
	pingMu sync.Mutex
	pongs  map[string]chan struct{}
	pingN  uint64
}

// StreamOption configures ExecStream.
type StreamOption func(*Cmd)

// StreamStderr sends the command's stderr to w (by default it is
// discarded). w is written from another goroutine.
func StreamStderr(w io.Writer) StreamOption {
	return func(c *Cmd) { c.Stderr = w }
}

// StreamUser runs the command as uid and gid inside the instance.
func StreamUser(uid, gid uint32) StreamOption {
	return func(c *Cmd) { c.User, c.Group = uid, gid }
}

// closeGrace is how long Close lets the command exit on its own after
// ending its stdin, before killing it.
var closeGrace = time.Second

// ExecStream starts command in an instance (without a terminal) and
// returns its stdin and stdout as a stream. Cancelling ctx kills it.
func (c *Client) ExecStream(ctx context.Context, instance string, command []string, env map[string]string, opts ...StreamOption) (*Stream, error) {
	cmd := Cmd{Command: command, Env: env}
	for _, o := range opts {
		o(&cmd)
	}
	p, fds, err := c.startExec(ctx, instance, cmd)
	if err != nil {
		return nil, err
	}
	s := &Stream{p: p, out: &wsReader{conn: fds["1"]}, ctl: fds["control"], pongs: map[string]chan struct{}{}}
	// Pongs arrive while p.run's reader drains the control websocket.
	s.ctl.SetPongHandler(s.pong)
	p.run(ctx, cmd, fds, true)
	return s, nil
}

// Ping checks that incusd still serves the stream: it sends a websocket
// ping on the exec's control connection and waits for the pong until ctx
// ends. A
// stream whose incusd died behind a proxy that keeps the connection open
// (incus-user does) only shows it this way.
func (s *Stream) Ping(ctx context.Context) error {
	if s.ended() {
		return fmt.Errorf("%s: ping: the command has ended", s.p.what)
	}
	s.pingMu.Lock()
	s.pingN++
	payload := strconv.FormatUint(s.pingN, 10)
	ch := make(chan struct{})
	s.pongs[payload] = ch
	s.pingMu.Unlock()
	defer func() {
		s.pingMu.Lock()
		delete(s.pongs, payload)
		s.pingMu.Unlock()
	}()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	if err := s.ctl.WriteControl(websocket.PingMessage, []byte(payload), deadline); err != nil {
		return fmt.Errorf("%s: ping: %w", s.p.what, streamError(err))
	}
	select {
	case <-ch:
		return nil
	case <-s.p.done:
		return fmt.Errorf("%s: ping: the command has ended", s.p.what)
	case <-ctx.Done():
		return fmt.Errorf("%s: ping: %w: no answer from Incus: %w", s.p.what, ErrDisconnected, ctx.Err())
	}
}

func (s *Stream) pong(payload string) error {
	s.pingMu.Lock()
	defer s.pingMu.Unlock()
	if ch, ok := s.pongs[payload]; ok {
		close(ch)
		delete(s.pongs, payload)
	}
	return nil
}

// Read reads the command's stdout.
func (s *Stream) Read(b []byte) (int, error) {
	n, err := s.out.Read(b)
	if err != nil && err != io.EOF && s.closed.Load() {
		err = net.ErrClosed
	}
	return n, err
}

// Write writes to the command's stdin (one websocket message).
func (s *Stream) Write(b []byte) (int, error) {
	n, err := s.p.stdin.Write(b)
	switch {
	case err == nil:
		return n, nil
	case s.closed.Load():
		return n, net.ErrClosed
	case errors.Is(err, errStreamEnded): // after CloseWrite
		return n, fmt.Errorf("%s: write: %w", s.p.what, err)
	case s.ended() && !errors.Is(s.p.err, ErrDisconnected):
		return n, fmt.Errorf("%s: write: the command has ended: %w", s.p.what, io.ErrClosedPipe)
	}
	return n, fmt.Errorf("%s: write: %w", s.p.what, streamError(err))
}

// ended reports whether the command has ended.
func (s *Stream) ended() bool {
	select {
	case <-s.p.done:
		return true
	default:
		return false
	}
}

// CloseWrite ends the command's stdin; it sees EOF.
func (s *Stream) CloseWrite() error {
	return s.p.stdin.end()
}

// Close ends the command's stdin, gives it a moment to exit, kills it if
// it has not, and releases the connections. It does not wait for the
// reader: a concurrent Read returns an error.
func (s *Stream) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		if s.p.stdin.tryEnd() {
			select {
			case <-s.p.done:
			case <-time.After(closeGrace):
			}
		}
		s.p.kill()
		<-s.p.done
		s.out.conn.Close()
	})
	return nil
}

// Wait waits for the command to end and returns its exit code.
func (s *Stream) Wait() (int, error) { return s.p.Wait() }

// Done is closed when the command has ended.
func (s *Stream) Done() <-chan struct{} { return s.p.done }
