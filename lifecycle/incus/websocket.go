package incus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/gorilla/websocket"
)

// Incus's websocket streams (exec's stdin, stdout, stderr) carry data as
// binary messages and end with a "barrier": an empty text message. The
// connection itself stays open until the operation ends.

// dialOperation connects to one websocket of an operation.
func (c *Client) dialOperation(ctx context.Context, opID, secret string) (*websocket.Conn, error) {
	u := c.url(c.wsBase, apiPath("operations", opID, "websocket"), url.Values{"secret": {secret}}, false)
	conn, resp, err := c.ws.DialContext(ctx, u, nil)
	if err != nil {
		if resp != nil && resp.StatusCode >= http.StatusBadRequest {
			defer closeBody(resp)
			return nil, responseError(resp)
		}
		return nil, transportError(err)
	}
	return conn, nil
}

// errStreamEnded is returned by writes after the stream's barrier.
var errStreamEnded = errors.New("stream already ended")

// wsWriter writes a stream to a websocket: one binary message per Write.
// Safe for concurrent use.
type wsWriter struct {
	mu    sync.Mutex
	conn  *websocket.Conn
	ended bool
}

func (w *wsWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return 0, errStreamEnded
	}
	if err := w.conn.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// end sends the barrier (once).
func (w *wsWriter) end() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.endLocked()
}

// tryEnd sends the barrier unless a Write is in flight (e.g. blocked on a
// peer that does not read); it reports whether the stream has ended.
func (w *wsWriter) tryEnd() bool {
	if !w.mu.TryLock() {
		return false
	}
	defer w.mu.Unlock()
	return w.endLocked() == nil
}

func (w *wsWriter) endLocked() error {
	if w.ended {
		return nil
	}
	w.ended = true
	return w.conn.WriteMessage(websocket.TextMessage, nil)
}

// writeJSON sends one text message (exec's control socket).
func (w *wsWriter) writeJSON(v any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conn.WriteJSON(v)
}

// wsReader reads a stream from a websocket until its barrier (io.EOF).
// One reader at a time.
type wsReader struct {
	conn *websocket.Conn
	cur  io.Reader
	err  error // sticky
}

func (r *wsReader) Read(p []byte) (int, error) {
	for {
		if r.err != nil {
			return 0, r.err
		}
		if r.cur == nil {
			typ, rd, err := r.conn.NextReader()
			switch {
			case err != nil:
				r.err = streamError(err)
				return 0, r.err
			case typ == websocket.TextMessage: // the barrier
				r.err = io.EOF
				return 0, io.EOF
			}
			r.cur = rd
		}
		n, err := r.cur.Read(p)
		if err == io.EOF {
			r.cur = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		if err != nil {
			r.err = streamError(err)
		}
		return n, err
	}
}

// streamError classifies how a websocket stream broke off.
func streamError(err error) error {
	if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		return io.EOF
	}
	return &connError{ErrDisconnected, fmt.Sprintf("connection to Incus lost: %v", err), err}
}

// discard reads and drops messages until the connection fails, so that
// pings and close frames are answered.
func discard(conn *websocket.Conn) {
	for {
		if _, _, err := conn.NextReader(); err != nil {
			return
		}
	}
}
