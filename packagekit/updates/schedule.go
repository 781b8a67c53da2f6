// Package updates runs Kapsule's update checks: when (a cron schedule with
// catch-up of missed runs, jitter and gating on metered networks, battery
// and power saving), what a check records (pending and security counts,
// the package list, errors), where results live ($XDG_STATE_HOME), and how
// the desktop is told (notifications, Discover's notifier).
package updates

import (
	"math/rand/v2"
	"time"

	"github.com/robfig/cron/v3"
)

// Clock is the time source of the scheduler (real time in production, a
// fake in tests: no test sleeps).
type Clock interface {
	Now() time.Time
	// After waits like time.After.
	After(d time.Duration) <-chan time.Time
}

// RealClock is the system clock.
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// After implements Clock.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Plan decides when the next scheduled check runs.
type Plan struct {
	Schedule     cron.Schedule
	StartupDelay time.Duration // first check after the service starts
	Jitter       time.Duration // a random delay in [0, Jitter) is added to each run
	RetryAfter   time.Duration // a skipped or failed run is retried this much later
	Rand         func(n int64) int64
}

// jitter returns a random delay below p.Jitter.
func (p Plan) jitter() time.Duration {
	if p.Jitter <= 0 {
		return 0
	}
	r := p.Rand
	if r == nil {
		r = rand.Int64N
	}
	return time.Duration(r(int64(p.Jitter)))
}

// First is when the first run after a (re)start happens, given when the
// last successful run was. Like a persistent systemd timer, a run missed
// while the machine was off or asleep is caught up soon after start.
func (p Plan) First(now, lastRun time.Time) time.Time {
	earliest := now.Add(p.StartupDelay)
	if lastRun.IsZero() {
		return earliest
	}
	due := p.Schedule.Next(lastRun)
	if !due.After(earliest) {
		return earliest // missed (or due during start-up): catch up
	}
	return due.Add(p.jitter())
}

// After is when the next run happens after a run that completed at now.
func (p Plan) After(now time.Time) time.Time {
	return p.Schedule.Next(now).Add(p.jitter())
}

// Retry is when a skipped or failed run is tried again.
func (p Plan) Retry(now time.Time) time.Time {
	retry := p.RetryAfter
	if retry <= 0 {
		retry = 30 * time.Minute
	}
	next := now.Add(retry)
	// Never later than the regular schedule.
	if regular := p.After(now); regular.Before(next) {
		return regular
	}
	return next
}
