package lifecycle

import (
	"context"
	"strings"
	"time"

	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
)

// Change is something that happened to a container, seen in Incus's
// lifecycle events (so changes made with the incus CLI behind Kapsule's
// back are seen too).
type Change struct {
	Container string // "" with Resync
	Action    string // incus.InstanceStarted, ...; "resync" after a reconnect
}

// Resync means events may have been missed (incusd restarted): re-list.
const Resync = "resync"

// Watch follows Incus's lifecycle events until ctx ends, calling fn for
// each instance event. When the event stream breaks (incusd restarted or
// unreachable) it reconnects with backoff and reports a Resync.
func (m *Manager) Watch(ctx context.Context, fn func(Change)) error {
	backoff := 100 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		l, err := m.cfg.Incus.Events(ctx, incus.EventLifecycle)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			m.log.Debug("event stream unavailable", "error", err, "retry", backoff)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if !first {
			m.log.Info("event stream back; re-listing containers")
		}
		// Whatever happened while not listening is unknown.
		m.forgetAll()
		m.setWatching(true)
		fn(Change{Action: Resync})
		first = false
		for ev := range l.C() {
			lc := ev.Lifecycle
			if lc == nil || !strings.HasPrefix(lc.Action, "instance-") {
				continue
			}
			name := lc.Name
			if name == "" {
				name = instanceFromSource(lc.Source)
			}
			switch lc.Action {
			case incus.InstanceStarted, incus.InstanceStopped, incus.InstanceShutdown, incus.InstanceRestarted, incus.InstanceDeleted:
				m.forget(name)
			case incus.InstanceExec, incus.InstanceConsole, incus.InstanceConsoleRetrieved, incus.InstanceFilePushed,
				incus.InstanceFileRetrieved, incus.InstanceFileDeleted, incus.InstanceLogRetrieved:
				// Used, not changed: what is cached still holds (every
				// exec, the bridge's and kap's included, says so).
			default:
				m.changed(name)
			}
			fn(Change{Container: name, Action: lc.Action})
		}
		m.setWatching(false)
		m.forgetAll()
		if ctx.Err() == nil {
			m.log.Warn("lost Incus's event stream; reconnecting", "error", l.Err())
		}
	}
	return nil
}

func (m *Manager) forgetAll() {
	m.mu.Lock()
	m.prepared = map[string]preparedKey{}
	m.cache = map[string]*incus.Instance{}
	for k := range m.gen {
		m.gen[k]++
	}
	m.mu.Unlock()
}

func (m *Manager) setWatching(on bool) {
	m.mu.Lock()
	m.watching = on
	m.mu.Unlock()
}

// instanceFromSource extracts the name from "/1.0/instances/NAME?project=P".
func instanceFromSource(src string) string {
	src, _, _ = strings.Cut(src, "?")
	const prefix = "/1.0/instances/"
	if !strings.HasPrefix(src, prefix) {
		return ""
	}
	name := strings.TrimPrefix(src, prefix)
	name, _, _ = strings.Cut(name, "/")
	return name
}
