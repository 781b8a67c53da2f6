package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// The containers Kapsule started on its own are also written to
// $XDG_STATE_HOME/kapsule/autostarted.json, so that a kapsuled that was
// killed (or crashed) mid-check stops them at its next start: no container
// is left running because of Kapsule.

func (m *Manager) autostartFile() string {
	if m.cfg.StateDir == "" {
		return ""
	}
	return filepath.Join(m.cfg.StateDir, "autostarted.json")
}

// saveAutoStartedLocked writes the set; m.mu must be held.
func (m *Manager) saveAutoStartedLocked() {
	path := m.autostartFile()
	if path == "" {
		return
	}
	names := make([]string, 0, len(m.autoStarted))
	for n := range m.autoStarted {
		names = append(names, n)
	}
	sort.Strings(names)
	data, _ := json.Marshal(names)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		m.log.Warn("record containers started on demand", "error", err)
		return
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err == nil {
		err = os.Rename(tmp, path)
		if err != nil {
			m.log.Warn("record containers started on demand", "error", err)
		}
	}
}

// leftoverSettle is how long StopLeftovers watches a recorded container
// that is not running: the killed kapsuled may have asked Incus to start
// it, and Incus finishes a start without its client.
const leftoverSettle = 20 * time.Second

// StopLeftovers stops the containers a previous kapsuled started on its
// own and did not get to stop (it was killed), unless the user has been
// using them since (then they stay). One still starting is stopped once it
// runs, unless this kapsuled uses it first (then it stops it after that
// use, as one it started itself).
func (m *Manager) StopLeftovers(ctx context.Context) {
	path := m.autostartFile()
	if path == "" {
		return
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var names []string
	if err != nil || json.Unmarshal(data, &names) != nil {
		m.log.Warn("unreadable record of containers started on demand; ignored", "path", path)
		_ = os.Remove(path)
		return
	}
	m.mu.Lock()
	for _, n := range names {
		m.autoStarted[n] = true
		m.leftovers[n] = true
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Go(func() { m.stopLeftover(ctx, n) })
	}
	wg.Wait()
}

func (m *Manager) stopLeftover(ctx context.Context, name string) {
	deadline := time.Now().Add(leftoverSettle)
	for {
		m.forget(name)
		inst, err := m.instance(ctx, name)
		m.mu.Lock()
		mine := m.leftovers[name]
		done := !mine || err != nil || inst.Running() || time.Now().After(deadline)
		if done {
			delete(m.leftovers, name)
		}
		m.mu.Unlock()
		switch {
		case !mine:
			return // claimed by the user, or adopted by a use of this kapsuled
		case errors.Is(err, ErrNotFound):
			m.claimed(name)
			return
		case err != nil:
			m.log.Warn("stop a container left running by a previous kapsuled", "container", name, "error", err)
			return
		case inst.Running():
			// One the killed kapsuled had just started may still be
			// booting, and systemd does not act on a shutdown request
			// until it is up (Incus's graceful stop then times out).
			if err := m.waitBooted(ctx, name); err != nil {
				m.log.Debug("wait for a container left running to boot", "container", name, "error", err)
			}
			stopped, err := m.StopIfAutoStarted(ctx, name)
			switch {
			case err != nil && !errors.Is(err, ErrNotFound):
				m.log.Warn("stop a container left running by a previous kapsuled", "container", name, "error", err)
			case stopped:
				m.log.Info("stopped a container a previous kapsuled had started", "container", name)
			}
			return
		case done:
			m.claimed(name) // it never came up
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}
