//go:build e2e

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"invent.kde.org/kapsule/kapsule/packagekit"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// bridgeProcesses counts the systemd-stdio-bridge processes in a
// container: one per open link from kapsuled.
func bridgeProcesses(t *testing.T, container string) int {
	t.Helper()
	// No procps in the test image: read /proc.
	out, _ := testbed.IncusErr("exec", container, "--", "sh", "-c", "cat /proc/[0-9]*/comm 2>/dev/null | grep -c '^systemd-stdio-b' || true")
	n := strings.TrimSpace(out)
	switch n {
	case "", "0":
		return 0
	case "1":
		return 1
	}
	return 2
}

// TestIdleLinksAreClosedAndReopened: a link to a container's PackageKit
// stays open while used and KeepLinks after, then closes (no connection
// Incus keeps alive with pings); the next call opens it again.
func TestIdleLinksAreClosedAndReopened(t *testing.T) {
	t.Parallel()
	s := pkSession(t, "[Bridge]\nKeepLinks=3s\n")
	c, bus := pkContainer(t, s, "links")
	conn := busConn(t, s)
	pk := pkClient(t, conn, bus)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := pk.Run(ctx, packagekit.GetUpdates(packagekit.NoFilter)); err != nil {
		t.Fatal(err)
	}
	if n := bridgeProcesses(t, c); n != 1 {
		t.Fatalf("%d links open right after a call, want 1", n)
	}
	deadline := time.Now().Add(20 * time.Second)
	for bridgeProcesses(t, c) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle link was not closed within 20 s (KeepLinks=3s)")
		}
		time.Sleep(500 * time.Millisecond)
	}
	res, err := pk.Run(ctx, packagekit.GetUpdates(packagekit.NoFilter))
	if err != nil {
		t.Fatalf("call after the link was closed: %v", err)
	}
	if len(res.Packages) != 1 || res.Packages[0].ID.Name() != "kapsule-fixture" {
		t.Errorf("after reopening: %+v", res.Packages)
	}
	if n := bridgeProcesses(t, c); n != 1 {
		t.Errorf("%d links open after reopening, want 1", n)
	}
}
