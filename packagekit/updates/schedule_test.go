package updates

import (
	"testing"
	"time"

	"invent.kde.org/kapsule/kapsule/kapsulerc"
)

func mustSchedule(t *testing.T, spec string) Plan {
	t.Helper()
	s, err := kapsulerc.ParseSchedule(spec)
	if err != nil {
		t.Fatal(err)
	}
	return Plan{Schedule: s, StartupDelay: 2 * time.Minute, RetryAfter: 30 * time.Minute}
}

var t0 = time.Date(2026, 11, 25, 9, 30, 0, 0, time.Local)

func TestFirstRunAfterLogin(t *testing.T) {
	t.Parallel()
	p := mustSchedule(t, "@daily")
	tests := map[string]struct {
		lastRun time.Time
		want    time.Time
	}{
		"never checked: a short delay after login": {time.Time{}, t0.Add(2 * time.Minute)},
		"checked this morning: wait for midnight":  {t0.Add(-2 * time.Hour), time.Date(2026, 11, 26, 0, 0, 0, 0, time.Local)},
		"missed last midnight (machine off): catch up": {
			t0.Add(-30 * time.Hour), t0.Add(2 * time.Minute),
		},
		"missed a week while asleep: one catch-up run": {t0.Add(-7 * 24 * time.Hour), t0.Add(2 * time.Minute)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := p.First(t0, tc.lastRun); !got.Equal(tc.want) {
				t.Errorf("First = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCronSpecAndEvery(t *testing.T) {
	t.Parallel()
	p := mustSchedule(t, "0 12 * * *")
	if got, want := p.After(t0), time.Date(2026, 11, 25, 12, 0, 0, 0, time.Local); !got.Equal(want) {
		t.Errorf("After = %v, want %v", got, want)
	}
	p = mustSchedule(t, "@every 6h")
	if got, want := p.After(t0), t0.Add(6*time.Hour); !got.Equal(want) {
		t.Errorf("@every 6h After = %v, want %v", got, want)
	}
}

func TestJitterStaysWithinItsBound(t *testing.T) {
	t.Parallel()
	p := mustSchedule(t, "@hourly")
	p.Jitter = 10 * time.Minute
	base := p.Schedule.Next(t0)
	// The extremes of the random source.
	p.Rand = func(n int64) int64 { return 0 }
	if got := p.After(t0); !got.Equal(base) {
		t.Errorf("min jitter: %v, want %v", got, base)
	}
	p.Rand = func(n int64) int64 { return n - 1 }
	if got := p.After(t0); !got.Before(base.Add(10*time.Minute)) || got.Before(base) {
		t.Errorf("max jitter: %v not in [%v, %v)", got, base, base.Add(10*time.Minute))
	}
	// The real random source, many times.
	p.Rand = nil
	for i := 0; i < 1000; i++ {
		got := p.After(t0)
		if got.Before(base) || !got.Before(base.Add(10*time.Minute)) {
			t.Fatalf("jitter out of bounds: %v", got.Sub(base))
		}
	}
}

func TestRetryIsSoonerThanTheNextRegularRun(t *testing.T) {
	t.Parallel()
	p := mustSchedule(t, "@daily")
	if got := p.Retry(t0); !got.Equal(t0.Add(30 * time.Minute)) {
		t.Errorf("Retry = %v", got)
	}
	p = mustSchedule(t, "*/10 * * * *")
	if got, want := p.Retry(t0), t0.Add(10*time.Minute); !got.Equal(want) {
		t.Errorf("Retry = %v, want the regular run %v", got, want)
	}
}
