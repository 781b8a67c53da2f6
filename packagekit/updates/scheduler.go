package updates

import (
	"context"
	"time"
)

// Run drives the schedule until ctx ends: the first run a short delay
// after start (or a missed run caught up), then the cron schedule with
// jitter. A run is skipped, recorded with its reason and retried later
// when a gate blocks it (metered network, low battery, power saving).
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	last := s.state.LastRun
	s.mu.Unlock()
	next := s.cfg.Settings().Plan.First(s.cfg.Clock.Now(), last)
	for {
		s.mu.Lock()
		s.next = next
		s.mu.Unlock()
		wait := next.Sub(s.cfg.Clock.Now())
		if wait < 0 {
			wait = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.kick:
			s.mu.Lock()
			last = s.state.LastRun
			s.mu.Unlock()
			next = s.cfg.Settings().Plan.First(s.cfg.Clock.Now(), last)
			continue
		case <-s.cfg.Wake:
			s.mu.Lock()
			last = s.state.LastRun
			s.mu.Unlock()
			next = s.cfg.Settings().Plan.First(s.cfg.Clock.Now(), last)
			continue
		case <-s.cfg.Clock.After(wait):
		}
		next = s.scheduledRun(ctx)
	}
}

// scheduledRun does one scheduled run and returns when the next is due.
func (s *Service) scheduledRun(ctx context.Context) time.Time {
	set := s.cfg.Settings()
	now := s.cfg.Clock.Now()
	gate := GateState{Metered: GateUnknown, Battery: GateUnknown, PowerSaver: GateUnknown}
	if s.cfg.Gate != nil {
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		gate = s.cfg.Gate.Check(gctx, set.Gate)
		cancel()
	}
	s.mu.Lock()
	s.gate = gate
	s.mu.Unlock()
	if gate.Blocked() {
		s.mu.Lock()
		s.state.LastSkip = &Skip{Time: now, Reason: gate.Reason}
		s.mu.Unlock()
		_ = s.save()
		s.log.Info("scheduled update check skipped", "reason", gate.Reason)
		return set.Plan.Retry(now)
	}
	s.mu.Lock()
	s.running = true
	s.mu.Unlock()
	err := s.Check(ctx, nil, nil)
	s.mu.Lock()
	s.running = false
	s.state.LastRun = now
	s.state.LastSkip = nil
	s.mu.Unlock()
	_ = s.save()
	if err != nil {
		s.log.Warn("scheduled update check had failures", "error", err)
	}
	if set.AutoApply && ctx.Err() == nil {
		s.autoApply(ctx)
	}
	return set.Plan.After(s.cfg.Clock.Now())
}

// autoApply applies pending updates everywhere (the user opted in).
func (s *Service) autoApply(ctx context.Context) {
	snap := s.Snapshot()
	for name, c := range snap.Containers {
		if c.Count == 0 {
			continue
		}
		if _, err := s.Apply(ctx, name, nil, nil); err != nil {
			s.log.Warn("automatic update failed", "container", name, "error", err)
		}
	}
}
