package incus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
)

// envelope is the JSON wrapper of every Incus response.
type envelope struct {
	Type       string          `json:"type"` // sync, async, error
	Status     string          `json:"status"`
	StatusCode int             `json:"status_code"`
	Operation  string          `json:"operation"`
	ErrorCode  int             `json:"error_code"`
	Error      string          `json:"error"`
	Metadata   json.RawMessage `json:"metadata"`
}

func (e *envelope) err() *Error {
	return &Error{StatusCode: e.ErrorCode, Message: e.Error}
}

// decodeMetadata decodes the envelope's metadata into out (nil or a JSON
// null leave out untouched).
func (e *envelope) decodeMetadata(out any) error {
	if out == nil || len(e.Metadata) == 0 || string(e.Metadata) == "null" {
		return nil
	}
	if err := json.Unmarshal(e.Metadata, out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// request is one call to the API.
type request struct {
	method string
	path   string // escaped, from apiPath
	query  url.Values
	body   any // nil, an io.Reader sent as is, or a value sent as JSON
	header http.Header
	etag   string // sent as If-Match
	global bool   // not project-scoped (certificates): no ?project=
}

// apiPath joins escaped path segments under /1.0.
func apiPath(segments ...string) string {
	var b strings.Builder
	b.WriteString("/1.0")
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// url is the full URL of path on base, with the client's project added
// unless global.
func (c *Client) url(base, path string, query url.Values, global bool) string {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	if c.project != "" && !global && q.Get("project") == "" {
		q.Set("project", c.project)
	}
	if len(q) == 0 {
		return base + path
	}
	return base + path + "?" + q.Encode()
}

// send performs the request and returns the response when its status is
// below 400; otherwise the error envelope as an *Error.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	var body io.Reader
	contentType := ""
	switch b := r.body.(type) {
	case nil:
	case io.Reader:
		body = b
		contentType = "application/octet-stream"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(data)
		contentType = "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.url(c.httpBase, r.path, r.query, r.global), body)
	if err != nil {
		return nil, err
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if contentType != "" && req.Header.Get("Content-Type") == "" {
		// Incus parses form values from the URL; a body with a form content
		// type would be swallowed by that parse.
		req.Header.Set("Content-Type", contentType)
	}
	if r.etag != "" {
		req.Header.Set("If-Match", r.etag)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, transportError(err)
	}
	if resp.StatusCode >= 400 {
		defer closeBody(resp)
		return nil, responseError(resp)
	}
	return resp, nil
}

// responseError turns a failed response into an *Error.
func responseError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var env envelope
	if json.Unmarshal(data, &env) == nil && env.Type == "error" {
		e := env.err()
		if e.StatusCode == 0 {
			e.StatusCode = resp.StatusCode
		}
		return e
	}
	return &Error{StatusCode: resp.StatusCode}
}

// transportError strips net/http's URL wrapper (the URL of a unix socket
// says nothing) and classifies a broken connection.
func transportError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var cerr *connError
	if errors.As(err, &cerr) {
		return cerr
	}
	if isDisconnect(err) {
		return &connError{ErrDisconnected, "connection to Incus lost: " + err.Error(), err}
	}
	return err
}

func isDisconnect(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// query performs a synchronous call, decodes its metadata into out and
// returns the response's ETag.
func (c *Client) query(ctx context.Context, r request, out any) (etag string, err error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return "", err
	}
	defer closeBody(resp)
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return "", transportError(fmt.Errorf("decode response: %w", err))
	}
	if env.Type == "error" {
		return "", env.err()
	}
	if err := env.decodeMetadata(out); err != nil {
		return "", err
	}
	return resp.Header.Get("ETag"), nil
}

// async performs a call that starts an operation. what names the call in
// the errors of the operation's Wait.
func (c *Client) async(ctx context.Context, r request, what string) (*Op, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	defer closeBody(resp)
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return nil, transportError(fmt.Errorf("decode response: %w", err))
	}
	switch env.Type {
	case "error":
		return nil, env.err()
	case "async":
	default:
		return nil, fmt.Errorf("expected an operation, got a %q response", env.Type)
	}
	op := &Op{c: c, what: what}
	if err := env.decodeMetadata(&op.Operation); err != nil {
		return nil, err
	}
	if op.ID == "" {
		op.ID = strings.TrimPrefix(env.Operation, "/1.0/operations/")
	}
	if op.ID == "" {
		return nil, errors.New("response names no operation")
	}
	return op, nil
}

// closeBody drains what is left of a response (a JSON decoder stops before
// the final newline) so that its connection can be reused.
func closeBody(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
