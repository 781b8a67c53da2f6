package packagekit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// Transaction is one PackageKit transaction, created by
// Client.CreateTransaction. It runs one Action. PackageKit binds it to the
// connection that created it: only that connection may drive it.
type Transaction struct {
	c    *Client
	path dbus.ObjectPath
	obj  dbus.BusObject
	in   *inbox

	mu     sync.Mutex
	ran    bool
	closed bool
}

// CreateTransaction creates a transaction and subscribes to its signals
// (one match rule on its path and the daemon's name). Run it, or Close it if
// it will not run.
func (c *Client) CreateTransaction(ctx context.Context) (*Transaction, error) {
	if err := c.stopped(); err != nil {
		return nil, fmt.Errorf("packagekit CreateTransaction: %w", err)
	}
	call := c.daemon.CallWithContext(ctx, DaemonInterface+".CreateTransaction", 0)
	var path dbus.ObjectPath
	if err := call.Store(&path); err != nil {
		return nil, callError(c.conn, "CreateTransaction", DaemonPath, err)
	}
	in, err := c.register(path, call.ResponseSequence)
	if err != nil {
		return nil, fmt.Errorf("packagekit CreateTransaction: %w", err)
	}
	t := &Transaction{c: c, path: path, obj: c.conn.Object(c.dest, path), in: in}
	if err := c.conn.AddMatchSignalContext(ctx, t.match()...); err != nil {
		c.unregister(path)
		return nil, fmt.Errorf("packagekit transaction %s: subscribe to its signals: %w", path, err)
	}
	return t, nil
}

func (t *Transaction) match() []dbus.MatchOption {
	return []dbus.MatchOption{dbus.WithMatchSender(t.c.dest), dbus.WithMatchObjectPath(t.path)}
}

// Path returns the transaction's object path.
func (t *Transaction) Path() dbus.ObjectPath { return t.path }

// SetHints sends hints ("key=value", see the Hint constants and functions).
// PackageKit fails the call for a malformed hint or a bad value.
func (t *Transaction) SetHints(ctx context.Context, hints ...string) error {
	if len(hints) == 0 {
		return nil
	}
	if err := t.obj.CallWithContext(ctx, TransactionInterface+".SetHints", 0, hints).Err; err != nil {
		return callError(t.c.conn, "SetHints", t.path, err)
	}
	return nil
}

// Cancel asks PackageKit to cancel the transaction. The transaction then
// finishes with ExitCancelled, unless it was past the point of no return.
func (t *Transaction) Cancel(ctx context.Context) error {
	if err := t.obj.CallWithContext(ctx, TransactionInterface+".Cancel", 0).Err; err != nil {
		return callError(t.c.conn, "Cancel", t.path, err)
	}
	return nil
}

// Close stops routing the transaction's signals and removes its match rule;
// a Run in progress returns. Run closes the transaction when it returns;
// Close is for a transaction that will not run. It does not cancel anything
// in PackageKit (see Cancel).
func (t *Transaction) Close() {
	t.mu.Lock()
	closed := t.closed
	t.closed = true
	t.mu.Unlock()
	if closed {
		return
	}
	t.in.fail(errTransactionClosed)
	t.c.unregister(t.path)
	t.c.removeMatch(t.match())
}

var errTransactionClosed = errors.New("transaction closed")

// RunOption configures a Run.
type RunOption func(*runOptions)

type runOptions struct {
	hints    []string
	progress ProgressFunc
}

// WithHints sends hints before the action (several WithHints add up).
func WithHints(hints ...string) RunOption {
	return func(o *runOptions) { o.hints = append(o.hints, hints...) }
}

// WithProgress reports progress to fn: on every change of the transaction's
// properties, on ItemProgress signals, and on Package signals that say what
// is being done to a package (downloading, installing, ...).
func WithProgress(fn ProgressFunc) RunOption {
	return func(o *runOptions) { o.progress = fn }
}

// Run creates a transaction, sends the hint supports-plural-signals=true and
// any WithHints, runs the action and waits until it finishes. See
// Transaction.Run.
func (c *Client) Run(ctx context.Context, a Action, opts ...RunOption) (*Result, error) {
	if a.err != nil {
		return nil, a.err
	}
	t, err := c.CreateTransaction(ctx)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	return t.Run(ctx, a, append([]RunOption{WithHints(HintSupportsPluralSignals)}, opts...)...)
}

// Run runs the action on the transaction and waits for its Finished signal.
// It returns the collected results on success, a *TransactionError when the
// transaction finished otherwise, a *MethodError when PackageKit refused the
// call, and an error wrapping ErrDaemonVanished, ErrDisconnected or ErrClosed
// when the daemon or the connection went away. When ctx ends, Run sends
// Cancel (bounded to 2 s) and returns ctx's error without waiting for the
// transaction to end. A transaction runs once; Run closes it.
func (t *Transaction) Run(ctx context.Context, a Action, opts ...RunOption) (*Result, error) {
	if a.err != nil {
		return nil, a.err
	}
	t.mu.Lock()
	ran, closed := t.ran, t.closed
	t.ran = true
	t.mu.Unlock()
	switch {
	case ran:
		return nil, fmt.Errorf("packagekit %s on %s: %w: the transaction already ran", a.method, t.path, ErrInvalidState)
	case closed:
		return nil, fmt.Errorf("packagekit %s on %s: %w: the transaction is closed", a.method, t.path, ErrInvalidState)
	}
	defer t.Close()
	var o runOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := t.SetHints(ctx, o.hints...); err != nil {
		return nil, err
	}
	if err := t.obj.CallWithContext(ctx, TransactionInterface+"."+a.method, 0, a.args...).Err; err != nil {
		if ctx.Err() != nil {
			// The call may have reached the daemon: cancel what it started.
			return nil, t.abandon(ctx, a.role)
		}
		return nil, callError(t.c.conn, a.method, t.path, err)
	}
	return t.wait(ctx, a.role, o.progress)
}

// wait handles the transaction's signals until it finishes, fails or ctx
// ends.
func (t *Transaction) wait(ctx context.Context, role Role, progress ProgressFunc) (*Result, error) {
	col := newCollector(t.path, role, progress)
	for {
		sigs, failed := t.in.take()
		for _, sig := range sigs {
			if ctx.Err() != nil { // e.g. the progress function cancelled
				return nil, t.abandon(ctx, role)
			}
			if done, err := col.handle(sig); done || err != nil {
				if err != nil {
					return nil, err
				}
				return col.res, nil
			}
		}
		if failed != nil {
			return nil, fmt.Errorf("packagekit %s on %s: %w", role, t.path, failed)
		}
		select {
		case <-t.in.notify:
		case <-ctx.Done():
			return nil, t.abandon(ctx, role)
		}
	}
}

// abandon cancels the transaction after ctx ended and returns ctx's error.
func (t *Transaction) abandon(ctx context.Context, role Role) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer cancel()
	if err := t.Cancel(cctx); err != nil {
		t.c.log.Debug("cancel abandoned transaction", "destination", t.c.dest, "path", t.path, "error", err)
	}
	return fmt.Errorf("packagekit %s on %s: %w", role, t.path, context.Cause(ctx))
}

// Hints understood by PackageKit 1.2 and 1.3 (see SetHints).
const (
	// HintSupportsPluralSignals lets the daemon batch Package and
	// UpdateDetail signals into Packages and UpdateDetails. Client.Run sends
	// it; results are the same either way.
	HintSupportsPluralSignals = "supports-plural-signals=true"
)

// HintLocale returns the locale hint, e.g. HintLocale("de_DE.UTF-8").
func HintLocale(locale string) string { return "locale=" + locale }

// HintInteractive returns the interactive hint: whether polkit may ask the
// user.
func HintInteractive(interactive bool) string { return fmt.Sprintf("interactive=%t", interactive) }

// HintBackground returns the background hint: a background transaction
// yields to foreground ones.
func HintBackground(background bool) string { return fmt.Sprintf("background=%t", background) }

// HintCacheAge returns the cache-age hint: metadata younger than age is not
// refreshed. age is rounded down to seconds and must be at least 1 s.
func HintCacheAge(age time.Duration) string {
	return fmt.Sprintf("cache-age=%d", int64(age/time.Second))
}
