//go:build e2e

package incus_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// e2eClient is a client of the test bed's incusd, as the test user.
func e2eClient(t testing.TB) (*incus.Client, *testbed.Bed) {
	t.Helper()
	bed := testbed.RequireUser(t)
	c := incus.NewUnix(bed.IncusSocket)
	t.Cleanup(c.Close)
	return c, bed
}

// timeout is a context that ends with the test or after d.
func timeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// mustWait returns a function that waits for the operation an async call
// returned, failing the test if the call or the operation failed:
// mustWait(t, ctx)(c.StartInstance(ctx, name)).
func mustWait(t testing.TB, ctx context.Context) func(*incus.Op, error) incus.Operation {
	return func(op *incus.Op, err error) incus.Operation {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		done, err := op.Wait(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		return done
	}
}

// expectLifecycle reads events until one with action for the instance
// name arrives.
func expectLifecycle(t testing.TB, l *incus.EventListener, name, action string) incus.Event {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case ev, ok := <-l.C():
			if !ok {
				t.Fatalf("event listener ended before %s of %s: %v", action, name, l.Err())
			}
			if lc := ev.Lifecycle; lc != nil && lc.Name == name && lc.Action == action {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event for %s within 60 s", action, name)
		}
	}
}

// syncBuffer is a bytes.Buffer for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// eventually polls cond every 20 ms for up to d.
func eventually(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
