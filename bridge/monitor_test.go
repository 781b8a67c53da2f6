package bridge

import (
	"bytes"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// monitor is a dbus-monitor process (libdbus: it refuses messages whose
// body does not match their signature, and prints every value).
type monitor struct {
	mu  sync.Mutex
	out bytes.Buffer
}

func (m *monitor) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.out.Write(p)
}

func (m *monitor) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.out.String()
}

// startMonitor runs dbus-monitor on the bus at addr with the given match
// rules and returns once it monitors.
func startMonitor(t *testing.T, addr string, rules ...string) *monitor {
	t.Helper()
	m := &monitor{}
	cmd := exec.Command("dbus-monitor", append([]string{"--address", addr}, rules...)...)
	cmd.Stdout = m
	cmd.Stderr = m
	if err := cmd.Start(); err != nil {
		t.Fatalf("dbus-monitor: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// A monitor loses its unique name once it has become a monitor.
	m.waitFor(t, "member=NameLost")
	return m
}

// waitFor returns the output once it contains s.
func (m *monitor) waitFor(t *testing.T, s string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if out := m.String(); strings.Contains(out, s) {
			return out
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("dbus-monitor printed no %q within 10 s:\n%s", s, m.String())
	return ""
}
