package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Match rules on the container's bus: PackageKit's signals (the bus matches
// the well-known sender against its current owner) and PackageKit's owner
// changes. Nothing else of the container's bus reaches the forwarder.
var upstreamMatchRules = []string{
	"type='signal',sender='" + pkName + "'",
	"type='signal',sender='" + busName + "',path='" + busPath + "',interface='" + busIface +
		"',member='NameOwnerChanged',arg0='" + pkName + "'",
}

// startUpstreamLocked begins connecting to the container's bus; calls queue
// on the returned link until it is ready.
func (f *Forwarder) startUpstreamLocked() *upstream {
	// Not cancelled with Run's context: shutdown drops the link itself,
	// after failing its pending calls with a message that says why.
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(f.runCtx))
	up := &upstream{ctx: ctx, cancel: cancel, pending: map[uint32]pendingCall{}}
	f.up = up
	f.wg.Go(func() { f.connect(up) })
	return up
}

// connect sets up the link, then lets the queued calls through in order.
func (f *Forwarder) connect(up *upstream) {
	start := time.Now()
	timeout := f.cfg.DialTimeout
	timer := time.AfterFunc(timeout, func() {
		up.cancel(fmt.Errorf("no connection within %s", timeout))
	})
	err := f.establish(up)
	if !timer.Stop() && err == nil {
		err = context.Cause(up.ctx)
	}
	if err != nil {
		if up.ctx.Err() != nil {
			err = context.Cause(up.ctx)
		}
		f.log.Warn("cannot reach PackageKit in the container", "err", err)
		f.dropUpstream(up, fmt.Errorf("cannot reach PackageKit in container %q: %w", f.cfg.Container, err), errNameNoServer)
		return
	}
	f.mu.Lock()
	if up.dead {
		f.mu.Unlock()
		return
	}
	up.ready = true
	for _, q := range up.queued {
		f.forwardLocked(up, q)
	}
	up.queued = nil
	f.mu.Unlock()
	up.conn.flush()
	f.log.Info("connected to the container's bus", "unique_name", up.conn.unique, "took", time.Since(start).Round(time.Millisecond))
}

// establish dials, authenticates, starts the link's loops, says Hello and
// adds the match rules.
//
// A stream on which the bus does not answer (it ends or is reset before
// authentication is through) is dialled again, while the dial timeout
// allows: Incus resets exec streams of a container that is still
// starting. Errors of Dial itself are returned at once.
func (f *Forwarder) establish(up *upstream) error {
	var conn *wireConn
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		rwc, err := f.cfg.Dial(up.ctx)
		if err != nil {
			return err
		}
		if rwc == nil {
			return errors.New("Dial returned no connection")
		}
		// The link lives until its context ends: dropped, timed out, or
		// Run stopping.
		stop := context.AfterFunc(up.ctx, func() { rwc.Close() })
		conn, err = openWireConn(up.ctx, rwc)
		if err == nil {
			break
		}
		stop()
		if up.ctx.Err() != nil {
			return err
		}
		f.log.Debug("the container's bus did not answer; dialling again", "err", err, "in", wait)
		select {
		case <-up.ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
	f.mu.Lock()
	up.conn = conn
	if p, ok := conn.rwc.(pinger); ok {
		up.ping = p.Ping
	}
	f.mu.Unlock()
	f.wg.Go(func() {
		err := conn.readLoop(func(m *message) { f.handleUpstream(up, m) }, func() {
			f.sess.flush()
			conn.flush()
		})
		if errors.Is(err, io.EOF) {
			err = errors.New("connection closed")
		}
		f.dropUpstream(up, fmt.Errorf("lost the connection to container %q before PackageKit answered: %w", f.cfg.Container, err), errNameNoReply)
	})
	if err := conn.hello(up.ctx); err != nil {
		return err
	}
	for _, rule := range upstreamMatchRules {
		if _, err := conn.callBus(up.ctx, "AddMatch", rule); err != nil {
			return fmt.Errorf("add match rule: %w", err)
		}
	}
	return nil
}

// pinger is a connection that can tell whether its far end still answers
// (incus.Stream).
type pinger interface {
	Ping(ctx context.Context) error
}

// While a link is busy (calls wait for PackageKit, or transactions are
// open) it is pinged every linkCheckEvery, and dropped when no answer comes
// within linkCheckTimeout: incusd gone behind a proxy that keeps the
// connection open (incus-user does) is noticed only so, and waiting
// clients hear of it within two seconds. An idle link is not pinged.
var (
	linkCheckEvery   = 400 * time.Millisecond
	linkCheckTimeout = 1200 * time.Millisecond
)

// watchLinkLocked starts checkLink for a busy link that can be pinged,
// unless it runs.
func (f *Forwarder) watchLinkLocked(up *upstream) {
	if up.ping == nil || up.checking || up.dead {
		return
	}
	up.checking = true
	f.wg.Go(func() { f.checkLink(up) })
}

// checkLink pings the link while it is busy.
func (f *Forwarder) checkLink(up *upstream) {
	tick := time.NewTicker(linkCheckEvery)
	defer tick.Stop()
	for {
		select {
		case <-up.ctx.Done():
			return
		case <-tick.C:
		}
		f.mu.Lock()
		busy := !up.dead && (len(up.pending) > 0 || len(f.openTx) > 0)
		if !busy {
			up.checking = false
		}
		f.mu.Unlock()
		if !busy {
			return
		}
		ctx, cancel := context.WithTimeout(up.ctx, linkCheckTimeout)
		err := up.ping(ctx)
		cancel()
		if err != nil && up.ctx.Err() == nil {
			f.log.Warn("the link to the container's bus does not answer; dropping it", "err", err)
			f.dropUpstream(up, fmt.Errorf("lost the connection to container %q: Incus does not answer: %w", f.cfg.Container, err), errNameNoReply)
			return
		}
	}
}

// handleUpstream handles what arrives from the container's bus, in order.
func (f *Forwarder) handleUpstream(up *upstream, m *message) {
	switch m.typ {
	case msgReturn, msgError:
		f.mu.Lock()
		pc, ok := up.pending[m.replySerial]
		if !ok || up.dead {
			f.mu.Unlock()
			return
		}
		delete(up.pending, m.replySerial)
		if pc.createTx && m.typ == msgReturn {
			if path, ok := m.firstObjectPath(); ok {
				f.openTx[path] = struct{}{}
			}
		}
		_ = f.sess.queue(&message{
			order:       m.order,
			typ:         m.typ,
			errName:     m.errName,
			replySerial: pc.serial,
			dest:        pc.client,
			sig:         m.sig,
			body:        m.body,
		})
		f.mu.Unlock()
		f.touch()
	case msgSignal:
		if m.sender == busName {
			f.handleUpstreamBusSignal(up, m)
			return
		}
		if m.dest != "" {
			// Signals sent to the forwarder itself by some container
			// process are not PackageKit's broadcasts.
			f.log.Debug("dropped a unicast signal from the container", "msg", m.String())
			return
		}
		f.mu.Lock()
		if up.dead {
			f.mu.Unlock()
			return
		}
		if m.iface == pkTxIface && (m.member == "Finished" || m.member == "Destroy") {
			delete(f.openTx, m.path)
		}
		_ = f.sess.queue(&message{
			order:  m.order,
			typ:    msgSignal,
			path:   m.path,
			iface:  m.iface,
			member: m.member,
			sig:    m.sig,
			body:   m.body,
		})
		f.mu.Unlock()
		f.touch()
	case msgCall:
		if m.iface == peerIface {
			f.answerPeer(up.conn, m)
		} else if m.wantsReply() {
			_ = up.conn.send(errorReply(m, errNameAccessDenied, "Kapsule's PackageKit forwarder takes no calls"))
		}
	}
}

// handleUpstreamBusSignal watches PackageKit's owner on the container's bus.
// PackageKit leaving with transactions open (a crash, a restart) bounces the
// name; an idle exit does not: the next call activates it again.
func (f *Forwarder) handleUpstreamBusSignal(up *upstream, m *message) {
	if m.member != "NameOwnerChanged" || m.sig != "sss" {
		return
	}
	d := decoder{b: m.body, order: m.order}
	name, err1 := d.string()
	oldOwner, err2 := d.string()
	newOwner, err3 := d.string()
	if err := errors.Join(err1, err2, err3); err != nil || name != pkName || oldOwner == "" {
		return
	}
	f.mu.Lock()
	if up.dead {
		f.mu.Unlock()
		return
	}
	open := len(f.openTx)
	clear(f.openTx)
	f.mu.Unlock()
	if open > 0 {
		f.log.Warn("PackageKit left the container's bus with transactions open", "transactions", open, "new_owner", newOwner)
		f.requestBounce()
	} else {
		f.log.Debug("PackageKit left the container's bus", "new_owner", newOwner)
	}
}

// dropUpstream ends a link: calls waiting on it are answered with errName,
// the connection is closed, and the name is bounced if transactions were
// open. The next call starts a new link.
func (f *Forwarder) dropUpstream(up *upstream, cause error, errName string) {
	f.mu.Lock()
	if up.dead {
		f.mu.Unlock()
		return
	}
	up.dead = true
	if f.up == up {
		f.up = nil
	}
	open := len(f.openTx)
	clear(f.openTx)
	sig, body := bodyOf(cause.Error())
	fail := func(client string, serial uint32) {
		_ = f.sess.queue(&message{typ: msgError, errName: errName, replySerial: serial, dest: client, sig: sig, body: body})
	}
	failed := len(up.pending)
	for _, pc := range up.pending {
		fail(pc.client, pc.serial)
	}
	for _, q := range up.queued {
		if q.flags&flagNoReplyExpected == 0 {
			fail(q.sender, q.serial)
			failed++
		}
	}
	up.pending, up.queued = nil, nil
	conn := up.conn
	stopping, wasReady := f.stopping, up.ready
	f.mu.Unlock()

	f.sess.flush()
	up.cancel(cause)
	if wasReady {
		f.log.Info("link to the container's bus closed", "reason", cause, "failed_calls", failed, "open_transactions", open)
	}
	if open > 0 && !stopping {
		f.requestBounce()
	}
	// Closing may wait for Incus (an exec stream lets its command exit
	// first): clients have their answers already, the bounce is on its way.
	if conn != nil {
		go conn.close()
	}
}

// firstObjectPath returns the leading o of a body whose signature starts
// with o.
func (m *message) firstObjectPath() (string, bool) {
	if len(m.sig) == 0 || m.sig[0] != 'o' {
		return "", false
	}
	d := decoder{b: m.body, order: m.order}
	s, err := d.string()
	return s, err == nil
}
