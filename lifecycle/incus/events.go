package incus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// EventType is a kind of event to listen to.
type EventType string

// Event types.
const (
	EventLifecycle EventType = "lifecycle"
	EventOperation EventType = "operation"
	EventLogging   EventType = "logging"
)

// Lifecycle actions of instances.
const (
	InstanceCreated   = "instance-created"
	InstanceStarted   = "instance-started"
	InstanceStopped   = "instance-stopped"  // forced stop
	InstanceShutdown  = "instance-shutdown" // graceful stop, or poweroff inside
	InstanceRestarted = "instance-restarted"
	InstanceDeleted   = "instance-deleted"
	InstanceRenamed   = "instance-renamed" // Context["old_name"]
	InstanceUpdated   = "instance-updated"
	InstancePaused    = "instance-paused"
	InstanceResumed   = "instance-resumed"
	InstanceExec      = "instance-exec"

	// Actions that use an instance without changing its configuration or
	// state.
	InstanceConsole          = "instance-console"
	InstanceConsoleRetrieved = "instance-console-retrieved"
	InstanceFilePushed       = "instance-file-pushed"
	InstanceFileRetrieved    = "instance-file-retrieved"
	InstanceFileDeleted      = "instance-file-deleted"
	InstanceLogRetrieved     = "instance-log-retrieved"
)

// Event is one event from Incus. Lifecycle or Operation is set according
// to Type; Metadata is the raw payload of any type.
type Event struct {
	Type      EventType       `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Location  string          `json:"location"`
	Project   string          `json:"project"`
	Metadata  json.RawMessage `json:"metadata"`

	Lifecycle *LifecycleEvent `json:"-"`
	Operation *Operation      `json:"-"`
}

// LifecycleEvent says that something happened to an object.
type LifecycleEvent struct {
	Action  string         `json:"action"`  // e.g. InstanceStarted
	Source  string         `json:"source"`  // e.g. /1.0/instances/dev
	Name    string         `json:"name"`    // the object's name
	Project string         `json:"project"` // the object's project
	Context map[string]any `json:"context"`
	// Requestor is who caused it, when known.
	Requestor *struct {
		Username string `json:"username"`
		Protocol string `json:"protocol"`
		Address  string `json:"address"`
	} `json:"requestor"`
}

// EventListener receives events until its context ends, it is closed, or
// the connection breaks.
type EventListener struct {
	conn    *websocket.Conn
	events  chan Event
	quit    chan struct{}
	quitErr error
	once    sync.Once
	stopCtx func() bool
	err     error       // why it ended; read after events is closed
	quiet   *time.Timer // fires after eventsQuiet without a frame
}

// incusd pings event streams every 10 s ("keepalive"). A stream that has
// been quiet for eventsQuiet is pinged by the listener; one that stays
// silent eventsPongWait longer is taken for lost. incusd gone behind a
// proxy that keeps the connection open (incus-user) is noticed only so.
// Timers are reset, never polled: a healthy stream costs no wakeups.
var (
	eventsQuiet    = 12 * time.Second
	eventsPongWait = 3 * time.Second
)

// Events connects to the event stream of the client's project and returns
// a listener for the given types (all when none are given). Subscribe
// before starting the operations whose events you want.
//
// Incus replays nothing: when the listener ends with an error (matching
// ErrDisconnected when incusd went away), reconnect and re-list.
func (c *Client) Events(ctx context.Context, types ...EventType) (*EventListener, error) {
	q := url.Values{}
	if len(types) > 0 {
		names := make([]string, len(types))
		for i, t := range types {
			names[i] = string(t)
		}
		q.Set("type", strings.Join(names, ","))
	}
	u := c.url(c.wsBase, apiPath("events"), q, false)
	conn, resp, err := c.ws.DialContext(ctx, u, nil)
	if err != nil {
		if resp != nil && resp.StatusCode >= 400 {
			defer closeBody(resp)
			err = responseError(resp)
		} else {
			err = transportError(err)
		}
		return nil, fmt.Errorf("listen to events: %w", err)
	}
	l := &EventListener{
		conn:   conn,
		events: make(chan Event, 64),
		quit:   make(chan struct{}),
	}
	l.stopCtx = context.AfterFunc(ctx, func() { l.shutdown(ctx.Err()) })
	conn.SetPingHandler(func(data string) error {
		l.alive()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	conn.SetPongHandler(func(string) error { l.alive(); return nil })
	l.quiet = time.AfterFunc(eventsQuiet, func() {
		_ = conn.WriteControl(websocket.PingMessage, []byte("kapsule"), time.Now().Add(eventsPongWait))
	})
	l.alive()
	go l.read()
	return l, nil
}

// alive records a frame from the server: the stream is live for another
// eventsQuiet plus eventsPongWait.
func (l *EventListener) alive() {
	l.quiet.Reset(eventsQuiet)
	_ = l.conn.SetReadDeadline(time.Now().Add(eventsQuiet + eventsPongWait))
}

// C delivers the events. It is closed when the listener ends; Err then
// says why.
func (l *EventListener) C() <-chan Event { return l.events }

// Err is why the listener ended: nil after Close, the context's error, or
// an error matching ErrDisconnected. Only valid once C is closed.
func (l *EventListener) Err() error { return l.err }

// Close stops the listener and waits for it to end.
func (l *EventListener) Close() error {
	l.shutdown(nil)
	for range l.events { // wait for the reader to end
	}
	return nil
}

func (l *EventListener) shutdown(err error) {
	l.once.Do(func() {
		l.quitErr = err
		close(l.quit)
		l.conn.Close()
	})
}

func (l *EventListener) read() {
	defer close(l.events)
	defer l.stopCtx()
	defer l.quiet.Stop()
	for {
		_, data, err := l.conn.ReadMessage()
		if err == nil {
			l.alive()
		}
		var timeout net.Error
		if errors.As(err, &timeout) && timeout.Timeout() {
			err = fmt.Errorf("no answer from Incus for %v: %w", eventsQuiet+eventsPongWait, err)
		}
		if err != nil {
			select {
			case <-l.quit:
				l.err = l.quitErr
			default:
				l.conn.Close()
				l.err = fmt.Errorf("events: %w", streamError(err))
				if !errors.Is(l.err, ErrDisconnected) { // closed cleanly by the server
					l.err = fmt.Errorf("events: %w: the server closed the stream", ErrDisconnected)
				}
			}
			return
		}
		ev, err := decodeEvent(data)
		if err != nil {
			continue // not an event we understand
		}
		select {
		case l.events <- ev:
		case <-l.quit:
			l.err = l.quitErr
			return
		}
	}
}

func decodeEvent(data []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return Event{}, err
	}
	switch ev.Type {
	case EventLifecycle:
		var lc LifecycleEvent
		if err := json.Unmarshal(ev.Metadata, &lc); err != nil {
			return Event{}, err
		}
		if lc.Name == "" { // servers without event_lifecycle_name_and_project
			src, _, _ := strings.Cut(lc.Source, "?")
			lc.Name, _ = url.PathUnescape(path.Base(src))
		}
		if lc.Project == "" {
			lc.Project = ev.Project
		}
		ev.Lifecycle = &lc
	case EventOperation:
		var op Operation
		if err := json.Unmarshal(ev.Metadata, &op); err != nil {
			return Event{}, err
		}
		ev.Operation = &op
	}
	return ev, nil
}
