package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/godbus/dbus/v5/prop"

	interfaces "invent.kde.org/kapsule/kapsule/dbus-interfaces"
	"invent.kde.org/kapsule/kapsule/lifecycle"
)

// Operation interface name and where operation objects live.
const (
	OperationInterface = "org.kde.kapsule.Operation"
	OperationsPath     = "/org/kde/kapsule/operations"
)

// Operation statuses (the Status property).
const (
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// OperationFunc is the work of an operation. It reports progress to r and
// must return promptly when ctx is cancelled.
type OperationFunc func(ctx context.Context, r lifecycle.Reporter) error

// Operations exports org.kde.kapsule.Operation objects: each Start
// exports one at /org/kde/kapsule/operations/N, runs the work in its own
// goroutine, and keeps the object for Linger after it ends so a client
// that subscribes late still reads the outcome.
type Operations struct {
	conn   *dbus.Conn
	log    *slog.Logger
	linger time.Duration
	node   *introspect.Node

	ctx    context.Context // cancelled by Close: stops running work
	cancel context.CancelFunc
	next   atomic.Uint64
	wg     sync.WaitGroup

	mu      sync.Mutex
	running map[dbus.ObjectPath]*operation

	// exportMu serialises exports and unexports of operation objects:
	// godbus reads its object table without a lock while exporting.
	exportMu sync.Mutex
}

// NewOperations returns an operation registry on conn.
func NewOperations(conn *dbus.Conn, log *slog.Logger, linger time.Duration) (*Operations, error) {
	node, err := parseNode(interfaces.Operation)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Operations{conn: conn, log: log, linger: linger, node: node, ctx: ctx, cancel: cancel,
		running: map[dbus.ObjectPath]*operation{}}, nil
}

// Start exports a new operation object and starts fn. typ, description
// and target become the Type, Description and Target properties.
func (o *Operations) Start(typ, description, target string, fn OperationFunc) (dbus.ObjectPath, error) {
	id := o.next.Add(1)
	path := dbus.ObjectPath(OperationsPath + "/" + strconv.FormatUint(id, 10))
	ctx, cancel := context.WithCancel(o.ctx)
	op := &operation{conn: o.conn, path: path, cancel: cancel, log: o.log.With("operation", id, "type", typ, "container", target)}
	if err := o.export(op, id, typ, description, target); err != nil {
		cancel()
		return "", err
	}

	o.mu.Lock()
	o.running[path] = op
	o.mu.Unlock()
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		defer cancel()
		err := fn(ctx, op)
		op.finish(ctx, err)
		select {
		case <-time.After(o.linger):
		case <-o.ctx.Done():
		}
		o.unexport(path)
	}()
	return path, nil
}

// export puts an operation's objects on the bus.
func (o *Operations) export(op *operation, id uint64, typ, description, target string) error {
	o.exportMu.Lock()
	defer o.exportMu.Unlock()
	path := op.path
	props, err := prop.Export(o.conn, path, prop.Map{OperationInterface: {
		"Id":           {Value: strconv.FormatUint(id, 10), Emit: prop.EmitConst},
		"Type":         {Value: typ, Emit: prop.EmitConst},
		"Description":  {Value: description, Emit: prop.EmitConst},
		"Target":       {Value: target, Emit: prop.EmitConst},
		"Status":       {Value: StatusRunning, Emit: prop.EmitTrue},
		"ErrorMessage": {Value: "", Emit: prop.EmitTrue},
	}})
	if err != nil {
		return fmt.Errorf("export operation %s: %w", path, err)
	}
	op.props = props
	if err := o.conn.Export(op, path, OperationInterface); err != nil {
		return fmt.Errorf("export operation %s: %w", path, err)
	}
	node := *o.node
	node.Interfaces = append([]introspect.Interface{introspect.IntrospectData, prop.IntrospectData}, o.node.Interfaces...)
	if err := o.conn.Export(introspect.NewIntrospectable(&node), path, "org.freedesktop.DBus.Introspectable"); err != nil {
		return fmt.Errorf("export operation %s: %w", path, err)
	}
	return nil
}

func (o *Operations) unexport(path dbus.ObjectPath) {
	o.mu.Lock()
	delete(o.running, path)
	o.mu.Unlock()
	o.exportMu.Lock()
	defer o.exportMu.Unlock()
	for _, iface := range []string{OperationInterface, "org.freedesktop.DBus.Properties", "org.freedesktop.DBus.Introspectable"} {
		_ = o.conn.Export(nil, path, iface)
	}
}

// Running lists the operations whose work has not ended.
func (o *Operations) Running() []dbus.ObjectPath {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []dbus.ObjectPath
	for p, op := range o.running {
		if op.status() == StatusRunning {
			out = append(out, p)
		}
	}
	return out
}

// Close cancels running work and waits for every operation to end.
func (o *Operations) Close() {
	o.cancel()
	o.wg.Wait()
}

// operation is one exported org.kde.kapsule.Operation; it is also the
// lifecycle.Reporter of its work, turning reports into signals.
type operation struct {
	conn   *dbus.Conn
	path   dbus.ObjectPath
	props  *prop.Properties
	cancel context.CancelFunc
	log    *slog.Logger

	mu        sync.Mutex
	cancelled bool
	ended     bool
}

func (op *operation) status() string {
	return op.props.GetMust(OperationInterface, "Status").(string)
}

// Cancel is the D-Bus method: it asks the work to stop.
func (op *operation) Cancel() (bool, *dbus.Error) {
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.ended || op.cancelled {
		return false, nil
	}
	op.cancelled = true
	op.cancel()
	return true, nil
}

func (op *operation) finish(ctx context.Context, err error) {
	op.mu.Lock()
	cancelled := op.cancelled
	op.ended = true
	op.mu.Unlock()
	status, msg := StatusCompleted, ""
	switch {
	case err == nil:
	case cancelled:
		status, msg = StatusCancelled, "operation cancelled"
	default:
		status, msg = StatusFailed, err.Error()
	}
	if err != nil {
		op.log.Warn("operation ended", "status", status, "error", msg)
	} else {
		op.log.Info("operation completed")
	}
	// ErrorMessage first, so a client woken by Status reads the right text.
	op.set("ErrorMessage", msg)
	op.set("Status", status)
	op.emit("Completed", err == nil, msg)
}

// set sets a property of the operation and announces it. prop's SetMust
// stores the value, then panics when PropertiesChanged cannot be sent:
// the bus connection is gone (the session ended) and nobody is left to
// tell, which must not take kapsuled down.
func (op *operation) set(name, value string) {
	defer func() {
		if r := recover(); r != nil {
			op.log.Debug("announce an operation property", "property", name, "error", r)
		}
	}()
	op.props.SetMust(OperationInterface, name, value)
}

func (op *operation) emit(member string, args ...any) {
	if err := op.conn.Emit(op.path, OperationInterface+"."+member, args...); err != nil {
		op.log.Debug("emit failed", "signal", member, "error", err)
	}
}

func (op *operation) Message(kind lifecycle.MessageKind, text string) {
	op.emit("Message", int32(kind), text, int32(1))
}
func (op *operation) Started(id, description string, total int) {
	op.emit("ProgressStarted", id, description, int32(total), int32(1))
}
func (op *operation) Update(id string, current int, rate float64) {
	op.emit("ProgressUpdate", id, int32(current), rate)
}
func (op *operation) Text(id, text string) { op.emit("ProgressTextUpdate", id, text) }
func (op *operation) Completed(id string, ok bool, message string) {
	op.emit("ProgressCompleted", id, ok, message)
}

func parseNode(xmlText string) (*introspect.Node, error) {
	var n introspect.Node
	if err := xmlUnmarshal(xmlText, &n); err != nil {
		return nil, fmt.Errorf("parse interface XML: %w", err)
	}
	return &n, nil
}
