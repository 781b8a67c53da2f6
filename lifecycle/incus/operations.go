package incus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// StatusCode is Incus's numeric status of operations and instances.
type StatusCode int

// Status codes (see Incus's REST API documentation).
const (
	StatusOperationCreated StatusCode = 100
	StatusStarted          StatusCode = 101
	StatusStopped          StatusCode = 102
	StatusRunning          StatusCode = 103
	StatusCancelling       StatusCode = 104
	StatusPending          StatusCode = 105
	StatusStarting         StatusCode = 106
	StatusStopping         StatusCode = 107
	StatusAborting         StatusCode = 108
	StatusFreezing         StatusCode = 109
	StatusFrozen           StatusCode = 110
	StatusThawed           StatusCode = 111
	StatusError            StatusCode = 112
	StatusReady            StatusCode = 113
	StatusSuccess          StatusCode = 200
	StatusFailure          StatusCode = 400
	StatusCancelled        StatusCode = 401
)

// Final reports whether an operation with this status has ended.
func (s StatusCode) Final() bool { return s >= StatusSuccess }

// Operation is the state of an Incus operation.
type Operation struct {
	ID          string              `json:"id"`
	Class       string              `json:"class"` // task, websocket, token
	Description string              `json:"description"`
	CreatedAt   time.Time           `json:"created_at"`
	UpdatedAt   time.Time           `json:"updated_at"`
	Status      string              `json:"status"`
	StatusCode  StatusCode          `json:"status_code"`
	Resources   map[string][]string `json:"resources"`
	// Metadata is operation specific: exec's "fds" and "return", an
	// image import's "fingerprint", progress (see Progress). JSON numbers
	// are float64.
	Metadata  map[string]any `json:"metadata"`
	MayCancel bool           `json:"may_cancel"`
	Err       string         `json:"err"`
	Location  string         `json:"location"`
}

// MetadataString is a metadata value as a string ("" when absent).
func (o Operation) MetadataString(key string) string {
	switch v := o.Metadata[key].(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// ExitCode is the exit code of a finished exec operation (metadata
// "return"); ok is false when there is none yet.
func (o Operation) ExitCode() (code int, ok bool) {
	v, ok := o.Metadata["return"].(float64)
	if !ok {
		return -1, false
	}
	return int(v), true
}

// Progress is what Incus reports of long work: the structured "progress"
// map and the "<stage>_progress" text of an operation's metadata.
type Progress struct {
	Stage     string // e.g. "create_instance_from_image_unpack"
	Percent   int    // 0-100, -1 when unknown
	Processed int64  // bytes done, 0 when unknown
	Speed     int64  // bytes per second, 0 when unknown
	Text      string // e.g. "Unpacking image: 42% (49.33MB/s)"
}

// Progress is the operation's progress; ok is false when it reports none.
func (o Operation) Progress() (p Progress, ok bool) {
	p.Percent = -1
	if m, isMap := o.Metadata["progress"].(map[string]any); isMap {
		ok = true
		p.Stage, _ = m["stage"].(string)
		if v, err := strconv.Atoi(fmt.Sprint(m["percent"])); err == nil {
			p.Percent = v
		}
		p.Processed, _ = strconv.ParseInt(fmt.Sprint(m["processed"]), 10, 64)
		p.Speed, _ = strconv.ParseInt(fmt.Sprint(m["speed"]), 10, 64)
		if p.Stage != "" {
			p.Text, _ = o.Metadata[p.Stage+"_progress"].(string)
		}
	}
	if p.Text == "" {
		// Older servers, and some stages, only give the text.
		for k, v := range o.Metadata {
			if s, isText := v.(string); isText && strings.HasSuffix(k, "_progress") {
				ok = true
				p.Text = s
				if p.Stage == "" {
					p.Stage = strings.TrimSuffix(k, "_progress")
				}
				break
			}
		}
	}
	return p, ok
}

// Op is an operation Incus runs in the background, as returned by an
// asynchronous call. The embedded Operation is its state when it was
// created.
type Op struct {
	Operation
	c    *Client
	what string // the call that started it, for error messages
}

// Operation attaches to an existing operation by its ID.
func (c *Client) Operation(ctx context.Context, id string) (*Op, error) {
	op := &Op{c: c, what: "operation " + id}
	if _, err := c.query(ctx, request{method: http.MethodGet, path: apiPath("operations", id)}, &op.Operation); err != nil {
		return nil, fmt.Errorf("get operation %s: %w", id, err)
	}
	return op, nil
}

// Get returns the operation's current state.
func (o *Op) Get(ctx context.Context) (Operation, error) {
	var cur Operation
	_, err := o.c.query(ctx, request{method: http.MethodGet, path: apiPath("operations", o.ID)}, &cur)
	if err != nil {
		return Operation{}, fmt.Errorf("%s: get operation: %w", o.what, err)
	}
	return cur, nil
}

// Cancel asks Incus to cancel the operation (only possible when
// MayCancel).
func (o *Op) Cancel(ctx context.Context) error {
	_, err := o.c.query(ctx, request{method: http.MethodDelete, path: apiPath("operations", o.ID)}, nil)
	if err != nil {
		return fmt.Errorf("%s: cancel: %w", o.what, err)
	}
	return nil
}

// Wait waits until the operation ends, at most timeout (rounded up to whole
// seconds, the server's unit; zero or less waits until ctx ends), and
// returns its final state. A failed operation gives an *Error carrying
// Incus's message, a cancelled one ErrCanceled; when the timeout passes
// first, the error is ErrTimeout and the state the current one.
func (o *Op) Wait(ctx context.Context, timeout time.Duration) (Operation, error) {
	secs := -1
	if timeout > 0 {
		secs = int(math.Ceil(timeout.Seconds()))
	}
	return o.wait(ctx, secs)
}

// WaitProgress is Wait without a timeout that calls fn with the
// operation's progress whenever it changes.
//
// It polls: a one-second long-poll on the operation's wait endpoint, then
// (on a timeout) one GET of the operation. The events websocket would push
// every update, but it costs a websocket per operation (or a shared
// listener to demultiplex), can miss the end when it drops, and Incus
// updates progress about once a second anyway; the long poll still returns
// the moment the operation ends.
func (o *Op) WaitProgress(ctx context.Context, fn func(Progress)) (Operation, error) {
	var last Progress
	for {
		cur, err := o.wait(ctx, 1)
		if !errors.Is(err, ErrTimeout) {
			return cur, err
		}
		if p, ok := cur.Progress(); ok && p != last {
			last = p
			fn(p)
		}
	}
}

// wait long-polls the wait endpoint for secs seconds (-1: no limit).
func (o *Op) wait(ctx context.Context, secs int) (Operation, error) {
	resp, err := o.c.send(ctx, request{
		method: http.MethodGet,
		path:   apiPath("operations", o.ID, "wait"),
		query:  url.Values{"timeout": {strconv.Itoa(secs)}},
	})
	if err != nil {
		return Operation{}, fmt.Errorf("%s: wait: %w", o.what, err)
	}
	defer closeBody(resp)
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return Operation{}, fmt.Errorf("%s: wait: %w", o.what, transportError(err))
	}
	if env.Type == "error" {
		// The wait endpoint answers 200 before it knows the outcome, so a
		// timeout (Incus 6.0: "context deadline exceeded") and a failed
		// operation both come as an error envelope. The operation itself
		// says which.
		cur, gerr := o.Get(ctx)
		switch {
		case gerr == nil && !cur.StatusCode.Final():
			return cur, o.timeout(secs)
		case gerr == nil:
			return cur, o.result(cur, env.ErrorCode)
		case ctx.Err() != nil:
			return Operation{}, fmt.Errorf("%s: wait: %w", o.what, ctx.Err())
		case secs >= 0 && strings.Contains(env.Error, "deadline exceeded"):
			return Operation{}, o.timeout(secs)
		}
		return Operation{}, fmt.Errorf("%s: %w", o.what, env.err())
	}
	var cur Operation
	if err := env.decodeMetadata(&cur); err != nil {
		return Operation{}, fmt.Errorf("%s: wait: %w", o.what, err)
	}
	if !cur.StatusCode.Final() {
		return cur, o.timeout(secs) // newer servers: the running operation
	}
	return cur, o.result(cur, 0)
}

func (o *Op) timeout(secs int) error {
	return fmt.Errorf("%s: %w (%d s)", o.what, ErrTimeout, secs)
}

// result is the error of a finished operation (nil on success). code is the
// error_code Incus gave with it, if any.
func (o *Op) result(op Operation, code int) error {
	switch op.StatusCode {
	case StatusSuccess:
		return nil
	case StatusCancelled:
		return fmt.Errorf("%s: %w", o.what, ErrCanceled)
	}
	if code == 0 {
		code = http.StatusInternalServerError
	}
	msg := op.Err
	if msg == "" {
		msg = op.Status
	}
	return fmt.Errorf("%s: %w", o.what, &Error{StatusCode: code, Message: msg})
}
