package testbed

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Bus is a private dbus-daemon started for one test.
type Bus struct {
	Address     string
	ServicesDir string // session services (D-Bus activation files) of this bus
	Dir         string
	stderr      *syncBuffer
}

// Output is what the bus and the services it activated wrote to stderr.
func (b *Bus) Output() string { return b.stderr.String() }

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Len()
}

// StartBus starts a private dbus-daemon with the session bus policy (or the
// system one when system is true), owned by the calling user, and stops it
// when the test ends. Activation files placed in ServicesDir are honoured.
func StartBus(t testing.TB, system bool) *Bus {
	t.Helper()
	return StartBusEnv(t, system, nil)
}

// StartBusEnv is StartBus with the environment the bus (and so every
// service it activates) runs with; nil inherits this process's.
func StartBusEnv(t testing.TB, system bool, env []string) *Bus {
	t.Helper()
	// A short directory of our own: unix socket paths are limited to 108
	// bytes and D-Bus addresses would need escaping for test names.
	dir, err := os.MkdirTemp("", "kapsule-bus-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	services := filepath.Join(dir, "services")
	if err := os.MkdirAll(services, 0o755); err != nil {
		t.Fatal(err)
	}
	busType := "session"
	policy := `<policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>`
	if system {
		busType = "system"
	}
	conf := fmt.Sprintf(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>%s</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <servicedir>%s</servicedir>
  %s
</busconfig>
`, busType, filepath.Join(dir, "bus"), services, policy)
	confPath := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("dbus-daemon", "--config-file="+confPath, "--nofork", "--print-address=1", "--nopidfile")
	cmd.Env = env
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("dbus-daemon said: %s", stderr.String())
		}
	})
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	select {
	case a := <-addr:
		if a == "" {
			t.Fatal("dbus-daemon printed no address")
		}
		return &Bus{Address: a, ServicesDir: services, Dir: dir, stderr: stderr}
	case <-time.After(10 * time.Second):
		t.Fatal("dbus-daemon did not start within 10 s")
	}
	return nil
}
