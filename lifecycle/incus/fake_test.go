package incus

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeIncus is an HTTP server on a unix socket that answers like incusd,
// mostly with responses recorded from Incus 6.0.4 (testdata/recorded).
type fakeIncus struct {
	t      testing.TB
	socket string
	mux    *http.ServeMux

	mu       sync.Mutex
	requests []seenRequest
	newConns atomic.Int32 // connections accepted
}

// seenRequest is a request the fake received.
type seenRequest struct {
	Method string
	Path   string // unescaped
	Raw    string // escaped path
	Query  url.Values
	Header http.Header
	Body   []byte
}

// newFake starts a fake Incus; it stops when the test ends.
func newFake(t testing.TB) *fakeIncus {
	t.Helper()
	// Unix socket paths are short (108 bytes): t.TempDir() may be longer.
	dir, err := os.MkdirTemp("", "incus-fake")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &fakeIncus{t: t, socket: filepath.Join(dir, "unix.socket"), mux: http.NewServeMux()}
	l, err := net.Listen("unix", f.socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(f.serve), ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.newConns.Add(1)
		}
	}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close() // hijacked websockets are closed by their handlers
		<-done
	})
	return f
}

func (f *fakeIncus) serve(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Header.Get("Upgrade") == "" {
		body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	f.mu.Lock()
	f.requests = append(f.requests, seenRequest{
		Method: r.Method, Path: r.URL.Path, Raw: r.URL.EscapedPath(),
		Query: r.URL.Query(), Header: r.Header.Clone(), Body: body,
	})
	f.mu.Unlock()
	f.mux.ServeHTTP(w, r)
}

// handle registers a handler (http.ServeMux patterns, e.g. "GET /1.0").
func (f *fakeIncus) handle(pattern string, h http.HandlerFunc) {
	f.mux.HandleFunc(pattern, h)
}

// client returns a client of the fake, closed when the test ends.
func (f *fakeIncus) client(opts ...Option) *Client {
	c := NewUnix(f.socket, opts...)
	f.t.Cleanup(c.Close)
	return c
}

// seen returns the requests received so far that match method and path.
func (f *fakeIncus) seen(method, path string) []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []seenRequest
	for _, r := range f.requests {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// last returns the last request matching method and path.
func (f *fakeIncus) last(method, path string) seenRequest {
	f.t.Helper()
	s := f.seen(method, path)
	if len(s) == 0 {
		f.t.Fatalf("no %s %s request seen", method, path)
	}
	return s[len(s)-1]
}

// recorded reads a recorded response.
func recorded(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "recorded", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replay answers with a recorded response and the HTTP status Incus gave
// it.
func replay(t testing.TB, name string, status int) http.HandlerFunc {
	body := recorded(t, name)
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}

// sync answers with a sync envelope around metadata.
func syncReply(w http.ResponseWriter, metadata any) {
	writeEnvelope(w, http.StatusOK, map[string]any{
		"type": "sync", "status": "Success", "status_code": 200, "metadata": metadata,
	})
}

// errorReply answers like Incus's error responses.
func errorReply(w http.ResponseWriter, code int, msg string) {
	writeEnvelope(w, code, map[string]any{"type": "error", "error_code": code, "error": msg})
}

func asyncReply(w http.ResponseWriter, op Operation) {
	w.Header().Set("Location", "/1.0/operations/"+op.ID)
	writeEnvelope(w, http.StatusAccepted, map[string]any{
		"type": "async", "status": "Operation created", "status_code": 100,
		"operation": "/1.0/operations/" + op.ID, "metadata": op,
	})
}

func writeEnvelope(w http.ResponseWriter, status int, env map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(env)
}

// decodeJSON decodes a request body seen by the fake.
func decodeJSON(t testing.TB, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("request body %q: %v", body, err)
	}
	return m
}

// within fails the test when ch is not closed or readable in d.
func within[T any](t testing.TB, d time.Duration, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s: nothing within %v", what, d)
	}
	var zero T
	return zero
}

// errorsAsError unwraps an *Error.
func errorsAsError(t testing.TB, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	return e
}
