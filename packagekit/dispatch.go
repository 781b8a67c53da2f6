package packagekit

import (
	"strings"
	"sync"

	"github.com/godbus/dbus/v5"
)

// dispatch is the Client's one goroutine. It reads every signal the
// connection delivers to the Client, tracks the owner of the destination
// name and hands transaction signals to the inbox of their path. It never
// blocks on a transaction: inboxes are unbounded. It returns when Close is
// called or when godbus closes the channel because the connection closed,
// and fails every registered transaction on its way out.
func (c *Client) dispatch() {
	defer close(c.done)
	for {
		select {
		case <-c.quit:
			c.stop(ErrClosed)
			return
		case sig, ok := <-c.sigs:
			if !ok {
				c.stop(ErrDisconnected)
				return
			}
			c.route(sig)
		}
	}
}

// route handles one signal on the dispatcher goroutine.
func (c *Client) route(sig *dbus.Signal) {
	if sig.Sender == "org.freedesktop.DBus" && sig.Name == "org.freedesktop.DBus.NameOwnerChanged" {
		c.ownerChanged(sig)
		return
	}
	if sig.Name != propertiesChanged && !strings.HasPrefix(sig.Name, TransactionInterface+".") {
		return
	}
	c.mu.Lock()
	in := c.txs[sig.Path]
	owner := c.owner
	c.mu.Unlock()
	if in == nil {
		return
	}
	// Another connection may emit on the same path; only the daemon counts.
	// (Our match rules already ask the bus for the daemon's signals only,
	// but other users of the connection may have broader rules.)
	if owner != "" && sig.Sender != owner {
		c.log.Debug("drop signal from a stranger", "destination", c.dest, "path", sig.Path,
			"signal", sig.Name, "sender", sig.Sender, "owner", owner)
		return
	}
	in.push(sig)
}

// ownerChanged follows NameOwnerChanged for the destination. When the owner
// that served our transactions goes away (crash, restart, idle exit), the
// transactions created before that moment can never finish: fail them.
func (c *Client) ownerChanged(sig *dbus.Signal) {
	var name, oldOwner, newOwner string
	if dbus.Store(sig.Body, &name, &oldOwner, &newOwner) != nil || name != c.dest {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if sig.Sequence < c.ownerSeq {
		return // already reflected in the GetNameOwner answer
	}
	c.owner = newOwner
	if oldOwner == "" {
		return
	}
	c.lostSeq = sig.Sequence
	for path, in := range c.txs {
		if in.created < sig.Sequence {
			c.log.Debug("daemon left the bus during a transaction", "destination", c.dest,
				"path", path, "old_owner", oldOwner, "new_owner", newOwner)
			in.fail(ErrDaemonVanished)
		}
	}
}

// stop records why the dispatcher ends and fails all transactions.
func (c *Client) stop(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
	for _, in := range c.txs {
		in.fail(err)
	}
}

// register makes the dispatcher route the signals of path to a new inbox.
// created is the sequence number of the CreateTransaction reply: an owner
// change seen after it concerns this transaction.
func (c *Client) register(path dbus.ObjectPath, created dbus.Sequence) (*inbox, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	in := &inbox{created: created, notify: make(chan struct{}, 1)}
	if c.lostSeq > created {
		// The daemon that created it left before we got here.
		in.failed = ErrDaemonVanished
	}
	c.txs[path] = in
	return in, nil
}

func (c *Client) unregister(path dbus.ObjectPath) {
	c.mu.Lock()
	delete(c.txs, path)
	c.mu.Unlock()
}

// stopped returns why the dispatcher ended, or nil while it runs.
func (c *Client) stopped() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// inbox queues the signals of one transaction between the dispatcher and
// the goroutine running the transaction.
type inbox struct {
	created dbus.Sequence
	notify  chan struct{} // capacity 1: "something changed"

	mu     sync.Mutex
	queue  []*dbus.Signal // ordered by Sequence
	failed error
}

// push queues a signal in sequence order (signals normally arrive in order;
// the insertion only repairs godbus' rare out-of-order delivery).
func (in *inbox) push(sig *dbus.Signal) {
	in.mu.Lock()
	i := len(in.queue)
	for i > 0 && in.queue[i-1].Sequence > sig.Sequence {
		i--
	}
	in.queue = append(in.queue, nil)
	copy(in.queue[i+1:], in.queue[i:])
	in.queue[i] = sig
	in.mu.Unlock()
	in.wake()
}

// fail records the first terminal error.
func (in *inbox) fail(err error) {
	in.mu.Lock()
	if in.failed == nil {
		in.failed = err
	}
	in.mu.Unlock()
	in.wake()
}

func (in *inbox) wake() {
	select {
	case in.notify <- struct{}{}:
	default:
	}
}

// take returns the queued signals and the terminal error, if any. Signals
// queued before a failure are returned with it and should be handled first.
func (in *inbox) take() ([]*dbus.Signal, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	q := in.queue
	in.queue = nil
	return q, in.failed
}
