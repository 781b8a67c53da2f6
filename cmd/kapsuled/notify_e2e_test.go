//go:build e2e

package main

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// TestReadyOnlyOnceServingAndStatusLines starts kapsuled the way its
// systemd unit does (Type=notify) and checks that READY=1 comes only when
// org.kde.kapsule is owned and the Manager answers, and that a check
// leaves a STATUS line worth reading.
func TestReadyOnlyOnceServingAndStatusLines(t *testing.T) {
	t.Parallel()
	bed := testbed.RequireUser(t)
	s := bed.NewSession(t, "[Containers]\nDefaultImage="+bed.Image+"\n")
	sock := filepath.Join(s.Config, "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	msgs := make(chan string, 32)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := l.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	conn, err := dbus.Connect(s.Bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.Bin, "kapsuled"))
	cmd.Env = append(s.Env(), "NOTIFY_SOCKET="+sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()

	next := func(what string) string {
		t.Helper()
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatalf("notify socket closed waiting for %s", what)
			}
			return m
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s from kapsuled", what)
		}
		return ""
	}
	ready := next("READY=1")
	if !strings.HasPrefix(ready, "READY=1\nSTATUS=Serving org.kde.kapsule") {
		t.Fatalf("first notification %q, want READY=1 with a status", ready)
	}
	// Ready means served: the name is owned and the Manager answers.
	var owned bool
	if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, bridge.ServiceName).Store(&owned); err != nil || !owned {
		t.Fatalf("READY=1 before %s was owned (%v)", bridge.ServiceName, err)
	}
	if _, err := conn.Object(bridge.ServiceName, bridge.ManagerPath).GetProperty(bridge.ManagerInterface + ".Version"); err != nil {
		t.Fatalf("READY=1 before the Manager answered: %v", err)
	}

	c := testbed.Name("notify")
	testbed.CleanupContainer(t, c)
	s.Kap(t, "create", c, "--quiet")
	s.Run(t, "", "kapsule-update", "check", c)
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m := <-msgs:
			if strings.HasPrefix(m, "STATUS=") && strings.Contains(m, "pending") {
				if !strings.Contains(m, "; 1 update pending (0 security)") || !strings.Contains(m, "next check") {
					t.Errorf("status line %q, want the one pending update and the next check", m)
				}
				return
			}
		case <-deadline:
			t.Fatal("no STATUS line after a check")
		}
	}
}
