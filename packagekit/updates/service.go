package updates

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"invent.kde.org/kapsule/kapsule/packagekit"
)

// Source is how the service reaches containers' PackageKit.
type Source interface {
	// Containers lists the containers that are update sources.
	Containers(ctx context.Context) ([]string, error)
	// Open returns a PackageKit client for a container, starting it if
	// needed; release ends the use (a container started for it is
	// stopped again, so its run state is what it was before).
	Open(ctx context.Context, container string) (pk *packagekit.Client, release func(), err error)
}

// Settings are the [Updates] settings, read anew for each decision.
type Settings struct {
	Plan          Plan
	Schedule      string
	Gate          GatePolicy
	MaxConcurrent int
	AutoApply     bool
	Notify        bool
}

// Events is how the service tells the rest of kapsuled about results.
type Events struct {
	// UpdatesChanged is called when a container's set of updates changed.
	UpdatesChanged func(container string, count, security uint32)
	// Checked is called after every check run (Discover's notifier).
	Checked func()
	// Notify shows a desktop notification for new updates.
	Notify func(ctx context.Context, s Summary, security bool) error
	// Inhibit blocks shutdown and sleep while updates are applied; nil or
	// a failing inhibitor (no logind) does not stop the apply.
	Inhibit func(ctx context.Context, why string) (release func(), err error)
}

// Config wires a Service.
type Config struct {
	Source   Source
	Store    *Store
	Settings func() Settings
	Gate     interface {
		Check(ctx context.Context, p GatePolicy) GateState
	}
	Clock  Clock
	Events Events
	Log    *slog.Logger
	// Wake, when set, delivers a value after the machine woke from sleep:
	// the schedule is then recomputed (a run missed while asleep is caught
	// up).
	Wake <-chan struct{}
}

// Service checks containers for updates on a schedule and on request,
// applies them on request (or on its own when the user opted in), and
// keeps the results.
type Service struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	state   *State
	next    time.Time
	gate    GateState
	running bool // a scheduled run is in progress

	kick chan struct{} // re-plan (settings changed)

	// check checks one container; tests replace it (export_test.go).
	check func(ctx context.Context, name string, progress Progress) (CheckResult, error)
}

// NewService loads the state and returns the service; Run drives the
// schedule.
func NewService(cfg Config) (*Service, error) {
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	st, err := cfg.Store.Load()
	if err != nil {
		// The old file is kept aside; carry on with a fresh state.
		cfg.Log.Warn("update state", "error", err)
	}
	s := &Service{cfg: cfg, log: cfg.Log, state: st, kick: make(chan struct{}, 1)}
	s.check = s.checkThroughSource
	return s, nil
}

// checkThroughSource checks a container through its PackageKit.
func (s *Service) checkThroughSource(ctx context.Context, name string, progress Progress) (CheckResult, error) {
	pk, release, err := s.cfg.Source.Open(ctx, name)
	if err != nil {
		return CheckResult{}, err
	}
	defer release()
	defer pk.Close()
	return CheckContainer(ctx, pk, progress)
}

// Check refreshes and counts updates in the given containers (all update
// sources when none are given), at most MaxConcurrent at a time.
func (s *Service) Check(ctx context.Context, containers []string, progress func(container, status string, percent int)) error {
	if len(containers) == 0 {
		all, err := s.cfg.Source.Containers(ctx)
		if err != nil {
			return err
		}
		containers = all
	}
	limit := s.cfg.Settings().MaxConcurrent
	if limit < 1 {
		limit = 1
	}
	var g errgroup.Group
	g.SetLimit(limit)
	var mu sync.Mutex
	var failed []error
	for _, name := range containers {
		g.Go(func() error {
			if ctx.Err() != nil {
				return nil
			}
			err := s.checkOne(ctx, name, func(status string, pct int) {
				if progress != nil {
					progress(name, status, pct)
				}
			})
			if err != nil {
				mu.Lock()
				failed = append(failed, fmt.Errorf("%s: %w", name, err))
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	s.afterCheck(ctx)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.Join(failed...)
}

func (s *Service) checkOne(ctx context.Context, name string, progress Progress) error {
	now := s.cfg.Clock.Now()
	res, err := s.check(ctx, name, progress)
	s.mu.Lock()
	c := s.state.Containers[name]
	if c == nil {
		c = &ContainerState{}
		s.state.Containers[name] = c
	}
	c.LastTry = now
	changed := false
	if err != nil {
		c.LastError = err.Error()
	} else {
		changed = c.Count != res.Count || c.Security != res.Security || keyOf(c.Updates) != keyOf(res.Updates) || c.LastCheck.IsZero()
		c.Updates, c.Count, c.Security, c.LastCheck, c.LastError = res.Updates, res.Count, res.Security, now, ""
	}
	count, security := c.Count, c.Security
	s.mu.Unlock()
	if err := s.save(); err != nil {
		s.log.Warn("save update state", "error", err)
	}
	if err != nil {
		s.log.Warn("update check failed", "container", name, "error", err)
		return err
	}
	s.log.Info("update check", "container", name, "updates", count, "security", security)
	if changed && s.cfg.Events.UpdatesChanged != nil {
		s.cfg.Events.UpdatesChanged(name, count, security)
	}
	return nil
}

func keyOf(us []Update) string {
	var b []byte
	for _, u := range us {
		b = append(b, u.PackageID...)
		b = append(b, '\n')
	}
	return string(b)
}

// afterCheck tells the desktop: a notification for a set of updates the
// user has not been told about, and Discover's notifier.
func (s *Service) afterCheck(ctx context.Context) {
	s.mu.Lock()
	key := s.state.UpdateSetKey()
	count, security := s.state.Totals()
	announce := count > 0 && key != s.state.Notified && s.cfg.Settings().Notify
	var sum Summary
	if announce {
		names := make([]string, 0, len(s.state.Containers))
		for n := range s.state.Containers {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			c := s.state.Containers[n]
			sum.Containers = append(sum.Containers, ContainerCount{Name: n, Count: c.Count, Security: c.Security})
		}
	}
	if count == 0 {
		s.state.Notified = "" // a later set, even the same one, is news again
	}
	s.mu.Unlock()
	if announce && s.cfg.Events.Notify != nil {
		if err := s.cfg.Events.Notify(context.WithoutCancel(ctx), sum, security > 0); err != nil {
			s.log.Warn("desktop notification", "error", err)
		} else {
			s.mu.Lock()
			s.state.Notified = key
			s.mu.Unlock()
			_ = s.save()
		}
	}
	if s.cfg.Events.Checked != nil {
		s.cfg.Events.Checked()
	}
}

// Apply installs updates in a container (ids empty: all pending), holding
// a shutdown and sleep inhibitor, then checks it again.
func (s *Service) Apply(ctx context.Context, container string, ids []string, progress func(status string, percent int)) ([]string, error) {
	if s.cfg.Events.Inhibit != nil {
		release, err := s.cfg.Events.Inhibit(ctx, "Updating container "+container)
		if err != nil {
			s.log.Debug("no inhibitor", "error", err)
		} else {
			defer release()
		}
	}
	pk, release, err := s.cfg.Source.Open(ctx, container)
	if err != nil {
		return nil, err
	}
	applied, err := ApplyContainer(ctx, pk, ids, progress)
	pk.Close()
	release()
	if err != nil {
		return nil, err
	}
	s.log.Info("updates applied", "container", container, "packages", len(applied))
	if cerr := s.Check(context.WithoutCancel(ctx), []string{container}, nil); cerr != nil {
		s.log.Warn("re-check after apply", "container", container, "error", cerr)
	}
	return applied, nil
}

func (s *Service) save() error {
	s.mu.Lock()
	snapshot := *s.state
	conts := make(map[string]*ContainerState, len(s.state.Containers))
	for k, v := range s.state.Containers {
		cp := *v
		conts[k] = &cp
	}
	snapshot.Containers = conts
	s.mu.Unlock()
	return s.cfg.Store.Save(&snapshot)
}

// Forget drops a deleted container's results.
func (s *Service) Forget(container string) {
	s.mu.Lock()
	_, ok := s.state.Containers[container]
	delete(s.state.Containers, container)
	s.mu.Unlock()
	if ok {
		_ = s.save()
	}
}

// Snapshot returns a copy of the state.
func (s *Service) Snapshot() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := *s.state
	cp.Containers = make(map[string]*ContainerState, len(s.state.Containers))
	for k, v := range s.state.Containers {
		c := *v
		c.Updates = append([]Update(nil), v.Updates...)
		cp.Containers[k] = &c
	}
	return cp
}

// Next is when the next scheduled run is due, and the last gate verdict.
func (s *Service) Next() (time.Time, GateState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next, s.gate
}

// Replan recomputes the schedule (after the settings changed).
func (s *Service) Replan() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}
