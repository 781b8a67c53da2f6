package updates

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"invent.kde.org/kapsule/kapsule/packagekit"
)

// fakeClock is a manual clock: After returns channels that fire when the
// test advances time past their deadline.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	waiting chan time.Time // the deadline of each new waiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(t time.Time) *fakeClock {
	return &fakeClock{now: t, waiting: make(chan time.Time, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	w := fakeWaiter{at: c.now.Add(d), ch: ch}
	if d <= 0 {
		ch <- c.now
	} else {
		c.waiters = append(c.waiters, w)
	}
	c.waiting <- w.at
	return ch
}

// next waits until the scheduler waits on the clock and returns when it
// wants to wake up.
func (c *fakeClock) next(t *testing.T) time.Time {
	t.Helper()
	select {
	case at := <-c.waiting:
		return at
	case <-time.After(10 * time.Second):
		t.Fatal("the scheduler did not wait on the clock")
	}
	return time.Time{}
}

// set moves the clock to at and fires what is due.
func (c *fakeClock) set(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = at
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(at) {
			w.ch <- at
		} else {
			keep = append(keep, w)
		}
	}
	c.waiters = keep
}

type fakeSource struct{ names []string }

func (f fakeSource) Containers(context.Context) ([]string, error) { return f.names, nil }
func (f fakeSource) Open(context.Context, string) (*packagekit.Client, func(), error) {
	return nil, nil, errors.New("not used: checks are replaced")
}

type fakeGate struct{ state atomic.Pointer[GateState] }

func (g *fakeGate) Check(context.Context, GatePolicy) GateState { return *g.state.Load() }

type harness struct {
	svc    *Service
	clock  *fakeClock
	store  *Store
	gate   *fakeGate
	checks chan string
	notes  chan Summary
	cancel context.CancelFunc
	done   chan error
}

var monday = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, spec string, now time.Time, storePath string, containers ...string) *harness {
	t.Helper()
	plan := mustSchedule(t, spec)
	plan.Rand = func(n int64) int64 { return 0 }
	h := &harness{clock: newFakeClock(now), store: NewStore(storePath), gate: &fakeGate{},
		checks: make(chan string, 100), notes: make(chan Summary, 10)}
	ok := GateState{Metered: GateOK, Battery: GateOK, PowerSaver: GateOK}
	h.gate.state.Store(&ok)
	svc, err := NewService(Config{
		Source: fakeSource{names: containers},
		Store:  h.store,
		Settings: func() Settings {
			return Settings{Plan: plan, MaxConcurrent: 2, Notify: true}
		},
		Gate:  h.gate,
		Clock: h.clock,
		Events: Events{Notify: func(_ context.Context, s Summary, _ bool) error {
			h.notes <- s
			return nil
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	svc.SetCheck(func(ctx context.Context, name string, _ Progress) (CheckResult, error) {
		h.checks <- name
		return CheckResult{Count: 1, Updates: []Update{{PackageID: "kapsule-fixture;1.1;all;local", Installed: "1.0", Severity: "normal"}}}, nil
	})
	h.svc = svc
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- svc.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel != nil {
		h.cancel()
		<-h.done
		h.cancel = nil
	}
}

func (h *harness) drainChecks(t *testing.T, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		select {
		case c := <-h.checks:
			got = append(got, c)
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d checks ran: %v", len(got), n, got)
		}
	}
	return got
}

func TestFirstRunShortlyAfterLoginThenDaily(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "@daily", monday, filepath.Join(t.TempDir(), "u.json"), "dev", "arch")
	at := h.clock.next(t)
	if want := monday.Add(2 * time.Minute); !at.Equal(want) {
		t.Fatalf("first run at %v, want %v", at, want)
	}
	select {
	case c := <-h.checks:
		t.Fatalf("checked %s before it was due", c)
	default:
	}
	h.clock.set(at)
	h.drainChecks(t, 2)
	at = h.clock.next(t)
	if want := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC); !at.Equal(want) {
		t.Fatalf("second run at %v, want midnight %v", at, want)
	}
	if s := h.svc.Snapshot(); !s.LastRun.Equal(monday.Add(2*time.Minute)) || s.Containers["dev"].Count != 1 {
		t.Errorf("state after the run: %+v", s)
	}
}

func TestMissedRunIsCaughtUpAfterRestartAndStateSurvives(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "u.json")
	h := newHarness(t, "@daily", monday, path, "dev")
	h.clock.set(h.clock.next(t))
	h.drainChecks(t, 1)
	h.clock.next(t)
	h.stop()

	// The machine was off for two days: the next start catches up.
	later := monday.Add(50 * time.Hour)
	h2 := newHarness(t, "@daily", later, path, "dev")
	if s := h2.svc.Snapshot(); s.Containers["dev"] == nil || s.Containers["dev"].Count != 1 || s.LastRun.IsZero() {
		t.Fatalf("state not kept across a restart: %+v", s)
	}
	if at := h2.clock.next(t); !at.Equal(later.Add(2 * time.Minute)) {
		t.Fatalf("catch-up at %v, want %v", at, later.Add(2*time.Minute))
	}
}

func TestGatedRunIsSkippedRecordedAndRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "@daily", monday, filepath.Join(t.TempDir(), "u.json"), "dev")
	blocked := GateState{Metered: GateBlocks, Battery: GateOK, PowerSaver: GateUnknown, Reason: "the network connection is metered"}
	h.gate.state.Store(&blocked)
	first := h.clock.next(t)
	h.clock.set(first)
	retry := h.clock.next(t)
	if want := first.Add(30 * time.Minute); !retry.Equal(want) {
		t.Fatalf("retry at %v, want %v", retry, want)
	}
	select {
	case c := <-h.checks:
		t.Fatalf("checked %s on a metered connection", c)
	default:
	}
	s := h.svc.Snapshot()
	if s.LastSkip == nil || s.LastSkip.Reason != blocked.Reason || !s.LastRun.IsZero() {
		t.Fatalf("skip not recorded: %+v", s)
	}
	ok := GateState{Metered: GateOK, Battery: GateOK, PowerSaver: GateOK}
	h.gate.state.Store(&ok)
	h.clock.set(retry)
	h.drainChecks(t, 1)
	h.clock.next(t)
	if s := h.svc.Snapshot(); s.LastSkip != nil || !s.LastRun.Equal(retry) {
		t.Errorf("after the retry: %+v", s)
	}
}

func TestNotifiesOncePerSetOfUpdates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "@hourly", monday, filepath.Join(t.TempDir(), "u.json"), "dev")
	h.clock.set(h.clock.next(t))
	h.drainChecks(t, 1)
	select {
	case s := <-h.notes:
		if len(s.Containers) != 1 || s.Containers[0].Count != 1 {
			t.Errorf("notification %+v", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notification for new updates")
	}
	// The same set again: no second notification.
	h.clock.set(h.clock.next(t))
	h.drainChecks(t, 1)
	h.clock.next(t)
	select {
	case s := <-h.notes:
		t.Fatalf("notified again for the same set: %+v", s)
	default:
	}
}

func TestChecksAreBoundedInConcurrency(t *testing.T) {
	t.Parallel()
	var names []string
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		names = append(names, n)
	}
	svc, err := NewService(Config{
		Source:   fakeSource{names: names},
		Store:    NewStore(filepath.Join(t.TempDir(), "u.json")),
		Settings: func() Settings { return Settings{MaxConcurrent: 3} },
	})
	if err != nil {
		t.Fatal(err)
	}
	var cur, peak atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{}, len(names))
	svc.SetCheck(func(ctx context.Context, name string, _ Progress) (CheckResult, error) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		started <- struct{}{}
		<-release
		cur.Add(-1)
		return CheckResult{}, nil
	})
	done := make(chan error)
	go func() { done <- svc.Check(context.Background(), nil, nil) }()
	for i := 0; i < 3; i++ {
		<-started
	}
	select {
	case <-started:
		t.Fatal("a fourth check started while three were running")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if peak.Load() != 3 {
		t.Errorf("peak concurrency %d, want 3", peak.Load())
	}
}

func TestWakeFromSleepCatchesUp(t *testing.T) {
	t.Parallel()
	wake := make(chan struct{}, 1)
	path := filepath.Join(t.TempDir(), "u.json")
	plan := mustSchedule(t, "@daily")
	clock := newFakeClock(monday)
	checks := make(chan string, 10)
	svc, err := NewService(Config{
		Source: fakeSource{names: []string{"dev"}}, Store: NewStore(path), Clock: clock, Wake: wake,
		Settings: func() Settings { return Settings{Plan: plan, MaxConcurrent: 1} },
	})
	if err != nil {
		t.Fatal(err)
	}
	svc.SetCheck(func(ctx context.Context, name string, _ Progress) (CheckResult, error) {
		checks <- name
		return CheckResult{}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go svc.Run(ctx)
	clock.set(clock.next(t))
	<-checks
	clock.next(t) // waiting for midnight
	// Asleep for two days: the monotonic timer did not advance; the wall
	// clock did. The wake-up re-plans and catches up.
	clock.mu.Lock()
	clock.now = monday.Add(48 * time.Hour)
	clock.mu.Unlock()
	wake <- struct{}{}
	if at := clock.next(t); !at.Equal(monday.Add(48*time.Hour + 2*time.Minute)) {
		t.Fatalf("after waking, next run at %v", at)
	}
}
