package bridge

// The forwarder's own business on its bus: owning the name, bouncing it,
// answering org.freedesktop.DBus.Peer.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// requestName takes the name, refusing to queue behind another owner.
func (f *Forwarder) requestName(ctx context.Context) error {
	const doNotQueue uint32 = 4
	r, err := f.sess.callBus(ctx, "RequestName", f.cfg.Name, doNotQueue)
	if err != nil {
		return fmt.Errorf("request bus name %q: %w", f.cfg.Name, err)
	}
	d := decoder{b: r.body, order: r.order}
	code, err := d.uint32()
	if err != nil || r.sig != "u" {
		return fmt.Errorf("request bus name %q: reply has signature %q", f.cfg.Name, r.sig)
	}
	switch code {
	case 1, 4: // primary owner, already owner
		return nil
	}
	owner := "another connection"
	if o, err := f.sess.callBus(ctx, "GetNameOwner", f.cfg.Name); err == nil {
		if s, ok := o.firstString(); ok {
			owner = s
			if p, err := f.sess.callBus(ctx, "GetConnectionUnixProcessID", s); err == nil && p.sig == "u" {
				d := decoder{b: p.body, order: p.order}
				if pid, err := d.uint32(); err == nil {
					owner = fmt.Sprintf("%s (pid %d)", s, pid)
				}
			}
		}
	}
	return fmt.Errorf("request bus name %q: already owned by %s; is another Kapsule running?", f.cfg.Name, owner)
}

// bounceName releases the name and requests it again, so that clients see
// the owner go and come back.
func (f *Forwarder) bounceName(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	f.log.Info("PackageKit went away with transactions open: bouncing the bus name")
	if _, err := f.sess.callBus(ctx, "ReleaseName", f.cfg.Name); err != nil {
		return fmt.Errorf("release bus name %q: %w", f.cfg.Name, err)
	}
	return f.requestName(ctx)
}

func (f *Forwarder) requestBounce() {
	select {
	case f.bounceReq <- struct{}{}:
	default:
	}
}

// answerPeer answers org.freedesktop.DBus.Peer itself.
func (f *Forwarder) answerPeer(c *wireConn, m *message) {
	if !m.wantsReply() {
		return
	}
	var r *message
	switch m.member {
	case "Ping":
		r = replyTo(m, msgReturn, "", "", nil)
	case "GetMachineId":
		if id := f.machineID(); id != "" {
			sig, body := bodyOf(id)
			r = replyTo(m, msgReturn, "", sig, body)
		} else {
			r = errorReply(m, errNameFailed, "no machine ID")
		}
	default:
		r = errorReply(m, errNameUnknownMethod, fmt.Sprintf("org.freedesktop.DBus.Peer has no method %q", m.member))
	}
	_ = c.send(r)
}

func readMachineID() string {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(p); err == nil {
			if id := strings.TrimSpace(string(b)); id != "" {
				return id
			}
		}
	}
	return ""
}
