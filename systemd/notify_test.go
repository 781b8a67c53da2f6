package systemd

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listenNotify stands in for systemd's notification socket.
func listenNotify(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, path
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

func TestNotifierSendsReadyStatusAndWatchdog(t *testing.T) {
	conn, path := listenNotify(t)
	t.Setenv("NOTIFY_SOCKET", path)
	n := NewNotifier()
	if err := n.Ready("exporting 2 containers"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, conn); got != "READY=1\nSTATUS=exporting 2 containers" {
		t.Errorf("ready message %q", got)
	}
	if err := n.Status("checking updates"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, conn); got != "STATUS=checking updates" {
		t.Errorf("status message %q", got)
	}

	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.RunWatchdog(ctx, func(context.Context) bool { return true }) }()
	if got := read(t, conn); !strings.Contains(got, "WATCHDOG=1") {
		t.Errorf("watchdog message %q", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestNotifierWithoutSystemdIsSilent(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := NewNotifier().Ready("x"); err != nil {
		t.Fatalf("Ready without NOTIFY_SOCKET: %v", err)
	}
}
