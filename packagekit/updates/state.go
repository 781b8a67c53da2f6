package updates

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Update is one pending update found by a check.
type Update struct {
	PackageID string `json:"package_id"` // name;new-version;arch;repo
	Installed string `json:"installed"`  // version installed now ("" if unknown)
	Severity  string `json:"severity"`   // PackageKit info: security, important, normal, ...
	Summary   string `json:"summary"`
}

// Security reports whether the update fixes a security issue.
func (u Update) Security() bool { return u.Severity == "security" || u.Severity == "critical" }

// ContainerState is what Kapsule knows about one container's updates.
type ContainerState struct {
	Updates   []Update  `json:"updates"`
	Count     uint32    `json:"count"`
	Security  uint32    `json:"security"`
	LastCheck time.Time `json:"last_check"` // last successful check
	LastTry   time.Time `json:"last_try"`   // last attempt, successful or not
	LastError string    `json:"last_error"`
}

// Skip records a scheduled run that did not happen.
type Skip struct {
	Time   time.Time `json:"time"`
	Reason string    `json:"reason"`
}

// State is everything the update service persists.
type State struct {
	Version    int                        `json:"version"`
	LastRun    time.Time                  `json:"last_run"` // last scheduled run that ran
	LastSkip   *Skip                      `json:"last_skip,omitempty"`
	Notified   string                     `json:"notified"` // key of the update set the user was told about
	Containers map[string]*ContainerState `json:"containers"`
}

const stateVersion = 1

// Totals sums the pending and security counts.
func (s *State) Totals() (count, security uint32) {
	for _, c := range s.Containers {
		count += c.Count
		security += c.Security
	}
	return count, security
}

// UpdateSetKey identifies the set of pending updates across containers,
// so the same set is not announced twice.
func (s *State) UpdateSetKey() string {
	var ids []string
	for name, c := range s.Containers {
		for _, u := range c.Updates {
			ids = append(ids, name+"/"+u.PackageID)
		}
	}
	sort.Strings(ids)
	return strings.Join(ids, "\n")
}

// Store keeps State in a JSON file, written atomically (temporary file,
// fsync, rename) so a crash never leaves a torn file.
type Store struct {
	path string
	mu   sync.Mutex
}

// StateDir is $XDG_STATE_HOME/kapsule (default ~/.local/state/kapsule).
func StateDir(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "kapsule")
	}
	return filepath.Join(getenv("HOME"), ".local", "state", "kapsule")
}

// NewStore returns a store for the file at path.
func NewStore(path string) *Store { return &Store{path: path} }

// Path is the state file.
func (st *Store) Path() string { return st.path }

// Load reads the state. A missing file is an empty state; an unreadable
// or corrupt one is moved aside (kept, never deleted) and reported, and
// an empty state is returned.
func (st *Store) Load() (*State, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	empty := &State{Version: stateVersion, Containers: map[string]*ContainerState{}}
	data, err := os.ReadFile(st.path)
	if errors.Is(err, fs.ErrNotExist) {
		return empty, nil
	}
	if err != nil {
		return empty, fmt.Errorf("read update state %s: %w", st.path, err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil || s.Version > stateVersion {
		aside := fmt.Sprintf("%s.corrupt-%d", st.path, time.Now().Unix())
		_ = os.Rename(st.path, aside)
		if err == nil {
			err = fmt.Errorf("version %d is newer than this kapsuled (%d)", s.Version, stateVersion)
		}
		return empty, fmt.Errorf("update state %s is unusable (%v); kept it as %s and started afresh", st.path, err, aside)
	}
	if s.Containers == nil {
		s.Containers = map[string]*ContainerState{}
	}
	s.Version = stateVersion
	return &s, nil
}

// Save writes the state atomically.
func (st *Store) Save(s *State) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode update state: %w", err)
	}
	dir := filepath.Dir(st.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save update state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".updates-*.json")
	if err != nil {
		return fmt.Errorf("save update state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save update state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save update state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save update state: %w", err)
	}
	if err := os.Rename(tmp.Name(), st.path); err != nil {
		return fmt.Errorf("save update state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
