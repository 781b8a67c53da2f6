package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
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

// StopLeftovers stops the containers a previous kapsuled started on its
// own and did not get to stop (it was killed), unless the user has been
// using them since (then they stay).
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
	for _, n := range names {
		m.mu.Lock()
		m.autoStarted[n] = true
		m.mu.Unlock()
		stopped, err := m.StopIfAutoStarted(ctx, n)
		switch {
		case err != nil && !errors.Is(err, ErrNotFound):
			m.log.Warn("stop a container left running by a previous kapsuled", "container", n, "error", err)
		case stopped:
			m.log.Info("stopped a container a previous kapsuled had started", "container", n)
		}
	}
}
