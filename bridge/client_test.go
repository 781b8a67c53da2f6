package bridge

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/lifecycle"
)

// stuckManager starts operations that never end.
type stuckManager struct{ ops *Operations }

func (m *stuckManager) StartContainer(name string) (dbus.ObjectPath, *dbus.Error) {
	p, err := m.ops.Start("start", "stuck", name, func(ctx context.Context, r lifecycle.Reporter) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if err != nil {
		return "", DBusError(err)
	}
	return p, nil
}

// TestClientNoticesKapsuledGoingAway: a client waiting for an operation
// learns at once that the kapsuled running it left the bus (killed,
// crashed), instead of waiting forever for its Completed signal.
func TestClientNoticesKapsuledGoingAway(t *testing.T) {
	t.Parallel()
	server, client := busPair(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ops, err := NewOperations(server, log, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	if err := server.Export(&stuckManager{ops: ops}, ManagerPath, ManagerInterface); err != nil {
		t.Fatal(err)
	}
	if r, err := server.RequestName(ServiceName, dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s: %v %v", ServiceName, r, err)
	}
	c := NewClient(client)
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		_, err := c.Start(context.Background(), Events{Message: func(int32, string) {}}, "StartContainer", "dev")
		done <- err
	}()
	go func() {
		// The operation exists once Running lists it.
		for len(ops.Running()) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		close(started)
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the operation did not start")
	}
	time.Sleep(100 * time.Millisecond) // the client is waiting for signals now
	gone := time.Now()
	server.Close()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "kapsuled stopped before operation") {
			t.Errorf("Start = %v, want kapsuled gone", err)
		}
		if d := time.Since(gone); d > 2*time.Second {
			t.Errorf("the client noticed after %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client still waits 10 s after kapsuled left the bus")
	}
}

// TestOperationEndsAfterTheBusIsGone: work that ends after the session bus
// connection was lost (the session ended under a running operation) must
// not take kapsuled down; it used to panic in prop.SetMust.
func TestOperationEndsAfterTheBusIsGone(t *testing.T) {
	t.Parallel()
	server, _ := busPair(t)
	ops, err := NewOperations(server, slog.New(slog.DiscardHandler), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	if _, err := ops.Start("create", "d", "dev", func(ctx context.Context, r lifecycle.Reporter) error {
		<-release
		r.Text("dev", "still working")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	server.Close()
	close(release)
	ops.Close() // waits for the operation to end
}

// TestOperationsStartAndEndConcurrently: operations exported and
// unexported at the same time (godbus reads its object table unlocked
// when exporting) must not race; under -race this failed.
func TestOperationsStartAndEndConcurrently(t *testing.T) {
	t.Parallel()
	server, _ := busPair(t)
	ops, err := NewOperations(server, slog.New(slog.DiscardHandler), 0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				if _, err := ops.Start("check-updates", "d", "dev", func(context.Context, lifecycle.Reporter) error { return nil }); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	ops.Close()
}
