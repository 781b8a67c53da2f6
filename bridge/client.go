package bridge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/godbus/dbus/v5"
)

// Names of Kapsule's service on the session bus.
const (
	ServiceName      = "org.kde.kapsule"
	ManagerPath      = dbus.ObjectPath("/org/kde/kapsule")
	ManagerInterface = "org.kde.kapsule.Manager"
)

// ErrNoSessionBus means the process has no session bus to talk on.
var ErrNoSessionBus = errors.New("no session bus")

// DialSession opens a private connection to the session bus named by
// DBUS_SESSION_BUS_ADDRESS (never auto-launching one).
func DialSession() (*dbus.Conn, error) {
	addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS")
	if addr == "" {
		return nil, fmt.Errorf("%w: DBUS_SESSION_BUS_ADDRESS is not set; run this inside your desktop session (or start one with dbus-run-session)", ErrNoSessionBus)
	}
	conn, err := dbus.Connect(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: connect to %s: %v", ErrNoSessionBus, addr, err)
	}
	return conn, nil
}

// Client calls kapsuled's org.kde.kapsule.Manager. It is what kap and
// kapsule-update use; D-Bus errors come back as lifecycle sentinels.
type Client struct {
	conn *dbus.Conn
	obj  dbus.BusObject

	mu      sync.Mutex
	sigs    chan *dbus.Signal
	waiters map[dbus.ObjectPath][]chan *dbus.Signal
	started bool
}

// NewClient returns a client on conn (activating kapsuled on first call).
func NewClient(conn *dbus.Conn) *Client {
	return &Client{conn: conn, obj: conn.Object(ServiceName, ManagerPath), waiters: map[dbus.ObjectPath][]chan *dbus.Signal{}}
}

// Conn is the client's bus connection.
func (c *Client) Conn() *dbus.Conn { return c.conn }

// Call calls a Manager method and stores its outputs in out.
func (c *Client) Call(ctx context.Context, method string, out []any, args ...any) error {
	call := c.obj.CallWithContext(ctx, ManagerInterface+"."+method, 0, args...)
	if call.Err != nil {
		return explainCallError(method, call.Err)
	}
	if len(out) > 0 {
		if err := call.Store(out...); err != nil {
			return fmt.Errorf("%s: unexpected reply from kapsuled: %w", method, err)
		}
	}
	return nil
}

// explainCallError turns bus-level failures into advice.
func explainCallError(method string, err error) error {
	var de dbus.Error
	if errors.As(err, &de) {
		switch de.Name {
		case "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner":
			return fmt.Errorf("kapsuled is not running and D-Bus cannot start it (no org.kde.kapsule activation file): install Kapsule with 'make install', or start it with 'systemctl --user start kapsuled'")
		case "org.freedesktop.DBus.Error.Spawn.ChildExited", "org.freedesktop.DBus.Error.Spawn.Failed", "org.freedesktop.DBus.Error.Spawn.ChildSignaled":
			return fmt.Errorf("kapsuled failed to start (%s): see 'journalctl --user -u kapsuled'", de.Error())
		case "org.freedesktop.DBus.Error.NoReply", "org.freedesktop.DBus.Error.Timeout":
			return fmt.Errorf("kapsuled did not answer %s in time: see 'journalctl --user -u kapsuled'", method)
		case "org.freedesktop.DBus.Error.UnknownMethod":
			return fmt.Errorf("kapsuled does not know %s: is an older kapsuled still running? restart it with 'systemctl --user restart kapsuled'", method)
		}
	}
	return ErrorFromDBus(err)
}

// Op is the outcome of an operation.
type Op struct {
	Path   dbus.ObjectPath
	Status string
	Error  string
}

// Events is how an operation's progress is shown while waiting.
type Events struct {
	Message   func(kind int32, text string)
	Started   func(id, description string, total int32)
	Update    func(id string, current int32, rate float64)
	Text      func(id, text string)
	Completed func(id string, ok bool, message string)
}

// watchOperations subscribes to every operation's signals; call it before
// starting an operation so no early signal is missed.
func (c *Client) watchOperations() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return nil
	}
	if err := c.conn.AddMatchSignal(dbus.WithMatchPathNamespace(OperationsPath), dbus.WithMatchInterface(OperationInterface)); err != nil {
		return fmt.Errorf("subscribe to operation signals: %w", err)
	}
	if err := c.conn.AddMatchSignal(dbus.WithMatchPathNamespace(OperationsPath), dbus.WithMatchInterface("org.freedesktop.DBus.Properties")); err != nil {
		return fmt.Errorf("subscribe to operation signals: %w", err)
	}
	// kapsuled leaving the bus (killed, crashed) ends its operations: no
	// Completed signal will come.
	if err := c.conn.AddMatchSignal(dbus.WithMatchSender(busDriver), dbus.WithMatchInterface(busDriver),
		dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, ServiceName)); err != nil {
		return fmt.Errorf("subscribe to operation signals: %w", err)
	}
	c.sigs = make(chan *dbus.Signal, 256)
	c.conn.Signal(c.sigs)
	c.started = true
	go c.dispatch()
	return nil
}

func (c *Client) dispatch() {
	for s := range c.sigs {
		c.mu.Lock()
		ws := slices.Concat(c.waiters[s.Path], c.waiters[anyOperation])
		if s.Name == ownerChanged {
			ws = ws[:0:0]
			for _, w := range c.waiters {
				ws = append(ws, w...)
			}
		}
		for _, w := range ws {
			select {
			case w <- s:
			default: // a waiter that fell behind reads Status at the end anyway
			}
		}
		c.mu.Unlock()
	}
}

// Start calls a Manager method that returns an operation and waits for it,
// showing progress through ev. It returns an error when the operation
// failed or was cancelled (ctx cancellation cancels it).
func (c *Client) Start(ctx context.Context, ev Events, method string, args ...any) (Op, error) {
	if err := c.watchOperations(); err != nil {
		return Op{}, err
	}
	// Collect every operation's signals until the reply names ours, so
	// early progress is not lost.
	ch := make(chan *dbus.Signal, 1024)
	c.register(anyOperation, ch)
	var path dbus.ObjectPath
	err := c.Call(ctx, method, []any{&path}, args...)
	if err != nil {
		c.unregister(anyOperation, ch)
		return Op{}, err
	}
	c.register(path, ch)
	c.unregister(anyOperation, ch)
	defer c.unregister(path, ch)
	return c.follow(ctx, path, ch, ev)
}

// busDriver is the bus itself, which announces owner changes.
const (
	busDriver    = "org.freedesktop.DBus"
	ownerChanged = busDriver + ".NameOwnerChanged"
)

// owner is kapsuled's unique name on the bus, "" when it is not running.
func (c *Client) owner(ctx context.Context) string {
	var owner string
	if err := c.conn.BusObject().CallWithContext(ctx, busDriver+".GetNameOwner", 0, ServiceName).Store(&owner); err != nil {
		return ""
	}
	return owner
}

// errServiceGone is why an operation was left without an outcome.
func errServiceGone(path dbus.ObjectPath) error {
	return fmt.Errorf("kapsuled stopped before operation %s finished (it crashed or was killed), so its outcome is unknown: see 'journalctl --user -u kapsuled', then run the command again", path)
}

// anyOperation registers a waiter for the signals of every operation.
const anyOperation = dbus.ObjectPath("")

func (c *Client) register(path dbus.ObjectPath, ch chan *dbus.Signal) {
	c.mu.Lock()
	c.waiters[path] = append(c.waiters[path], ch)
	c.mu.Unlock()
}

func (c *Client) unregister(path dbus.ObjectPath, ch chan *dbus.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := c.waiters[path]
	for i, w := range ws {
		if w == ch {
			c.waiters[path] = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(c.waiters[path]) == 0 {
		delete(c.waiters, path)
	}
}

// Wait follows an operation until it ends.
func (c *Client) Wait(ctx context.Context, path dbus.ObjectPath, ev Events) (Op, error) {
	if err := c.watchOperations(); err != nil {
		return Op{}, err
	}
	ch := make(chan *dbus.Signal, 1024)
	c.register(path, ch)
	defer c.unregister(path, ch)
	return c.follow(ctx, path, ch, ev)
}

func (c *Client) follow(ctx context.Context, path dbus.ObjectPath, ch chan *dbus.Signal, ev Events) (Op, error) {
	// The kapsuled that runs the operation: its leaving the bus ends the
	// wait (the signals that follow its owner change are queued in ch).
	owner := c.owner(ctx)
	if owner == "" {
		return Op{Path: path, Status: StatusFailed}, errServiceGone(path)
	}
	obj := c.conn.Object(ServiceName, path)
	status := func() (Op, bool, error) {
		var st, msg dbus.Variant
		var err error
		if st, err = obj.GetProperty(OperationInterface + ".Status"); err != nil {
			return Op{}, false, fmt.Errorf("read operation %s: %w", path, err)
		}
		if msg, err = obj.GetProperty(OperationInterface + ".ErrorMessage"); err != nil {
			return Op{}, false, fmt.Errorf("read operation %s: %w", path, err)
		}
		op := Op{Path: path, Status: fmt.Sprint(st.Value()), Error: fmt.Sprint(msg.Value())}
		return op, op.Status != StatusRunning, nil
	}
	// A late subscriber learns the outcome from Status.
	if op, done, err := status(); err != nil || done {
		return op, opError(op, err)
	}
	for {
		select {
		case <-ctx.Done():
			_ = obj.Call(OperationInterface+".Cancel", 0).Err
			return Op{Path: path, Status: StatusCancelled}, ctx.Err()
		case <-c.conn.Context().Done():
			return Op{Path: path, Status: StatusFailed}, fmt.Errorf("lost the session bus while waiting for operation %s", path)
		case s := <-ch:
			if s.Name == ownerChanged {
				if len(s.Body) == 3 && s.Body[0] == ServiceName && s.Body[1] == owner {
					return Op{Path: path, Status: StatusFailed}, errServiceGone(path)
				}
				continue
			}
			if s.Path != path {
				continue
			}
			if s.Name == OperationInterface+".Completed" {
				op, _, err := status()
				if err != nil && len(s.Body) == 2 { // object gone: trust the signal
					ok, _ := s.Body[0].(bool)
					msg, _ := s.Body[1].(string)
					op = Op{Path: path, Status: map[bool]string{true: StatusCompleted, false: StatusFailed}[ok], Error: msg}
					err = nil
				}
				return op, opError(op, err)
			}
			deliver(ev, s)
		}
	}
}

func opError(op Op, err error) error {
	if err != nil {
		return err
	}
	switch op.Status {
	case StatusCompleted:
		return nil
	case StatusCancelled:
		return context.Canceled
	}
	return errors.New(strings.TrimSpace(op.Error))
}

func deliver(ev Events, s *dbus.Signal) {
	b := s.Body
	switch strings.TrimPrefix(s.Name, OperationInterface+".") {
	case "Message":
		if ev.Message != nil && len(b) == 3 {
			ev.Message(b[0].(int32), b[1].(string))
		}
	case "ProgressStarted":
		if ev.Started != nil && len(b) == 4 {
			ev.Started(b[0].(string), b[1].(string), b[2].(int32))
		}
	case "ProgressUpdate":
		if ev.Update != nil && len(b) == 3 {
			ev.Update(b[0].(string), b[1].(int32), b[2].(float64))
		}
	case "ProgressTextUpdate":
		if ev.Text != nil && len(b) == 2 {
			ev.Text(b[0].(string), b[1].(string))
		}
	case "ProgressCompleted":
		if ev.Completed != nil && len(b) == 3 {
			ev.Completed(b[0].(string), b[1].(bool), b[2].(string))
		}
	}
}
