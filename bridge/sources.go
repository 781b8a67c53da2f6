package bridge

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"invent.kde.org/kapsule/kapsule/lifecycle"
)

// SourceBackend is what the update sources need from the container life
// cycle (*lifecycle.Manager).
type SourceBackend interface {
	List(ctx context.Context) ([]lifecycle.Container, error)
	Get(ctx context.Context, name string) (lifecycle.Container, error)
	ProbePackageKit(ctx context.Context, name string) (lifecycle.PackageKitSupport, error)
	PackageKitStream(ctx context.Context, name string, stderr io.Writer) (io.ReadWriteCloser, error)
	AutoStarted(name string) bool
	StopIfAutoStarted(ctx context.Context, name string) (bool, error)
	SharedPath(ctx context.Context, name, path string) error
}

// Update source states (ListUpdateSources).
const (
	SourceReady       = "ready"       // the name is owned; PackageKit is reachable on demand
	SourceUnavailable = "unavailable" // no PackageKit (Reason says why)
	SourceError       = "error"       // the name could not be exported (Reason)
)

// SourcesConfig wires the update sources.
type SourcesConfig struct {
	SessionAddress string
	Backend        SourceBackend
	// IdleStop stops a container Kapsule started on demand after this
	// long without PackageKit traffic (0: never).
	IdleStop time.Duration
	// KeepLinks closes a link to a container's bus after this long without
	// traffic (0: never); the next call opens it again.
	KeepLinks time.Duration
	// Changed is called when the set of sources or a state changes
	// (the Manager emits UpdateSourcesChanged).
	Changed func()
	Log     *slog.Logger
}

// Sources exports each Kapsule container's PackageKit on the session bus
// under org.kde.kapsule.PackageKit.<name> (one Forwarder each), following
// containers as they come and go.
type Sources struct {
	cfg     SourcesConfig
	resync  chan struct{}
	mu      sync.Mutex
	entries map[string]*sourceEntry
	reprobe map[string]bool // containers to look at again at the next reconcile
	look    map[string]bool // containers an event named: looked at alone
	full    bool            // the next reconcile lists every container
	wg      sync.WaitGroup
	ctx     context.Context
}

type sourceEntry struct {
	container   string
	busName     string
	state       string
	reason      string
	probeFailed bool // looking into the container failed (state error)
	fwd         *Forwarder
	cancel      context.CancelFunc
	done        chan struct{}
	idle        *time.Timer
	link        *time.Timer // closes an idle link (KeepLinks)
	ctx         context.Context
}

// NewSources returns the update sources; Run drives them.
func NewSources(cfg SourcesConfig) *Sources {
	if cfg.Changed == nil {
		cfg.Changed = func() {}
	}
	return &Sources{cfg: cfg, resync: make(chan struct{}, 1), entries: map[string]*sourceEntry{},
		reprobe: map[string]bool{}, look: map[string]bool{}}
}

// Resync asks for every container to be listed again and the sources to
// follow (after Incus's event stream was lost and came back, or a rename).
func (s *Sources) Resync() {
	s.mu.Lock()
	s.full = true
	s.mu.Unlock()
	s.wake()
}

func (s *Sources) wake() {
	select {
	case s.resync <- struct{}{}:
	default:
	}
}

// Look asks for one container an event named (created, deleted) to be
// looked at: only that container is read from Incus, so events from other
// users' instances cost one request, not a listing of everything.
func (s *Sources) Look(container string) {
	s.mu.Lock()
	s.look[container] = true
	s.mu.Unlock()
	s.wake()
}

// Reprobe asks for a container to be looked at again: after its
// configuration changed, PackageKit may have come or gone. Its source is
// replaced only if the answer changed, so a working source is not
// disturbed.
func (s *Sources) Reprobe(container string) {
	s.mu.Lock()
	s.reprobe[container] = true
	s.look[container] = true
	s.mu.Unlock()
	s.wake()
}

// Run keeps the sources in step with the containers until ctx ends, then
// stops every forwarder (releasing the names).
func (s *Sources) Run(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	s.reconcile(ctx)
	for {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			for _, e := range s.entries {
				s.stopEntryLocked(e)
			}
			s.mu.Unlock()
			s.wg.Wait()
			return nil
		case <-s.resync:
			s.mu.Lock()
			full, names := s.full, s.look
			s.full, s.look = false, map[string]bool{}
			s.mu.Unlock()
			if full {
				s.reconcile(ctx)
				continue
			}
			sorted := make([]string, 0, len(names))
			for n := range names {
				sorted = append(sorted, n)
			}
			sort.Strings(sorted)
			changed := false
			for _, n := range sorted {
				changed = s.one(ctx, n) || changed
			}
			if changed {
				s.cfg.Changed()
			}
		}
	}
}

// one follows a single container: adds, rechecks or removes its source.
func (s *Sources) one(ctx context.Context, name string) bool {
	gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err := s.cfg.Backend.Get(gctx, name)
	cancel()
	s.mu.Lock()
	e, known := s.entries[name]
	again := s.reprobe[name]
	delete(s.reprobe, name)
	s.mu.Unlock()
	switch {
	case errors.Is(err, lifecycle.ErrNotFound):
		if !known {
			return false // not ours (another user's, or not Kapsule's)
		}
		s.mu.Lock()
		s.stopEntryLocked(e)
		delete(s.entries, name)
		s.mu.Unlock()
		return true
	case err != nil:
		s.cfg.Log.Warn("look at a container for its update source", "container", name, "error", err)
		s.Resync() // catch up with a full listing later
		return false
	case !known:
		s.add(ctx, name)
		return true
	case again || e.probeFailed:
		return s.recheck(ctx, name)
	}
	return false
}

// reconcile lists the containers and adds or removes sources.
func (s *Sources) reconcile(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cs, err := s.cfg.Backend.List(lctx)
	if err != nil {
		s.cfg.Log.Warn("list containers for update sources", "error", err)
		return
	}
	want := map[string]bool{}
	for _, c := range cs {
		want[c.Name] = true
	}
	changed := false
	s.mu.Lock()
	again := s.reprobe
	s.reprobe = map[string]bool{}
	var recheck []string
	for name, e := range s.entries {
		switch {
		case !want[name]:
			s.stopEntryLocked(e)
			delete(s.entries, name)
			changed = true
		case again[name] || e.probeFailed:
			// A failed look (Incus busy, the container being created) is
			// retried at every resync.
			recheck = append(recheck, name)
		}
	}
	var add []string
	for name := range want {
		if _, ok := s.entries[name]; !ok {
			add = append(add, name)
		}
	}
	s.mu.Unlock()
	sort.Strings(add)
	for _, name := range add {
		s.add(ctx, name)
		changed = true
	}
	sort.Strings(recheck)
	for _, name := range recheck {
		if s.recheck(ctx, name) {
			changed = true
		}
	}
	if changed {
		s.cfg.Changed()
	}
}

func (s *Sources) probe(ctx context.Context, name string) (lifecycle.PackageKitSupport, error) {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return s.cfg.Backend.ProbePackageKit(pctx, name)
}

func (s *Sources) add(ctx context.Context, name string) {
	bus, err := PackageKitBusName(name)
	if err != nil {
		s.put(&sourceEntry{container: name, state: SourceError, reason: err.Error()})
		return
	}
	sup, err := s.probe(ctx, name)
	s.export(ctx, name, bus, sup, err)
}

// recheck looks at a container again and replaces its source when the
// answer changed; it reports whether it did. A working source is kept
// through a failed look.
func (s *Sources) recheck(ctx context.Context, name string) bool {
	s.mu.Lock()
	e := s.entries[name]
	s.mu.Unlock()
	if e == nil || e.busName == "" {
		return false
	}
	sup, err := s.probe(ctx, name)
	s.mu.Lock()
	state, reason := e.state, e.reason
	s.mu.Unlock()
	switch {
	case ctx.Err() != nil:
		return false
	case e.fwd != nil && (err != nil || sup.OK):
		return false // still exported (or failed for another reason than PackageKit)
	case err != nil && e.probeFailed && reason == err.Error():
		return false
	case err == nil && !sup.OK && state == SourceUnavailable && reason == sup.Reason:
		return false
	}
	s.cfg.Log.Info("update source changed", "container", name, "was", state, "packagekit", err == nil && sup.OK)
	s.mu.Lock()
	s.stopEntryLocked(e)
	delete(s.entries, name)
	s.mu.Unlock()
	if e.done != nil {
		<-e.done // the name is released before it can be taken again
	}
	s.export(ctx, name, e.busName, sup, err)
	return true
}

// export makes the source of a container from what a look into it found:
// a Forwarder owning bus, or an entry saying why there is none.
func (s *Sources) export(ctx context.Context, name, bus string, sup lifecycle.PackageKitSupport, err error) {
	e := &sourceEntry{container: name, busName: bus}
	switch {
	case err != nil:
		e.state, e.reason, e.probeFailed = SourceError, err.Error(), true
		s.put(e)
		return
	case !sup.OK:
		e.state, e.reason = SourceUnavailable, sup.Reason
		s.put(e)
		return
	}
	log := s.cfg.Log.With("container", name)
	fwd, err := NewForwarder(ForwarderConfig{
		SessionAddress: s.cfg.SessionAddress,
		Name:           bus,
		Container:      name,
		Dial: func(ctx context.Context) (io.ReadWriteCloser, error) {
			rwc, err := s.cfg.Backend.PackageKitStream(ctx, name, lifecycle.StderrLog(log, name))
			if err == nil && s.cfg.IdleStop > 0 && s.cfg.Backend.AutoStarted(name) {
				s.armIdle(e)
			}
			if err == nil && s.cfg.KeepLinks > 0 {
				s.armLink(e)
			}
			return rwc, err
		},
		CheckPath: func(path string) error {
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return s.cfg.Backend.SharedPath(cctx, name, path)
		},
		Logger: s.cfg.Log,
	})
	if err != nil {
		e.state, e.reason = SourceError, err.Error()
		s.put(e)
		return
	}
	fctx, fcancel := context.WithCancel(ctx)
	e.fwd, e.cancel, e.done, e.state, e.ctx = fwd, fcancel, make(chan struct{}), SourceReady, fctx
	s.put(e)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(e.done)
		if err := fwd.Run(fctx); err != nil && fctx.Err() == nil {
			log.Warn("update source stopped", "error", err)
			s.mu.Lock()
			e.state, e.reason = SourceError, err.Error()
			s.mu.Unlock()
			s.cfg.Changed()
		}
	}()
}

func (s *Sources) put(e *sourceEntry) {
	s.mu.Lock()
	s.entries[e.container] = e
	s.mu.Unlock()
	if e.reason != "" {
		s.cfg.Log.Info("container is not an update source", "container", e.container, "reason", e.reason)
	}
}

func (s *Sources) stopEntryLocked(e *sourceEntry) {
	if e.cancel != nil {
		e.cancel()
	}
	if e.idle != nil {
		e.idle.Stop()
	}
	if e.link != nil {
		e.link.Stop()
	}
}

// armIdle starts watching a container that was started on demand for its
// update source: once the source has been idle for IdleStop, the container
// is stopped again (unless the user started using it). Timers exist only
// while there is such a container, so an idle kapsuled does not wake up.
func (s *Sources) armIdle(e *sourceEntry) {
	s.mu.Lock()
	armed := e.idle != nil
	s.mu.Unlock()
	if !armed {
		s.rearm(e, func() { s.idleCheck(e) }, s.cfg.IdleStop)
	}
}

func (s *Sources) idleCheck(e *sourceEntry) {
	s.mu.Lock()
	e.idle = nil
	ctx := e.ctx
	s.mu.Unlock()
	if ctx == nil || ctx.Err() != nil || !s.cfg.Backend.AutoStarted(e.container) {
		return
	}
	idleFor := time.Since(e.fwd.LastActivity())
	if e.fwd.Busy() || idleFor < s.cfg.IdleStop {
		s.rearm(e, func() { s.idleCheck(e) }, s.cfg.IdleStop-idleFor+time.Second)
		return
	}
	e.fwd.Disconnect()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	stopped, err := s.cfg.Backend.StopIfAutoStarted(sctx, e.container)
	cancel()
	switch {
	case err != nil && !errors.Is(err, context.Canceled):
		s.cfg.Log.Warn("stop a container started on demand", "container", e.container, "error", err)
	case stopped:
		s.cfg.Log.Info("stopped after being idle", "container", e.container, "idle", idleFor.Round(time.Second))
	}
}

// armLink watches a link that was just opened and closes it once it has
// carried nothing for KeepLinks.
func (s *Sources) armLink(e *sourceEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.link != nil {
		e.link.Stop()
	}
	e.link = time.AfterFunc(s.cfg.KeepLinks, func() { s.linkCheck(e) })
}

func (s *Sources) linkCheck(e *sourceEntry) {
	s.mu.Lock()
	ctx := e.ctx
	s.mu.Unlock()
	if ctx == nil || ctx.Err() != nil || e.fwd == nil || !e.fwd.Connected() {
		return
	}
	idleFor := time.Since(e.fwd.LastActivity())
	if e.fwd.Busy() || idleFor < s.cfg.KeepLinks {
		s.mu.Lock()
		e.link = time.AfterFunc(s.cfg.KeepLinks-idleFor+time.Second, func() { s.linkCheck(e) })
		s.mu.Unlock()
		return
	}
	s.cfg.Log.Debug("closing an idle link", "container", e.container, "idle", idleFor.Round(time.Second))
	e.fwd.Disconnect()
}

func (s *Sources) rearm(e *sourceEntry, fn func(), d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.idle != nil {
		e.idle.Stop()
	}
	e.idle = time.AfterFunc(d, fn)
}

// List returns the sources for ListUpdateSources, sorted by container.
func (s *Sources) List() []UpdateSource {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]UpdateSource, 0, len(s.entries))
	for _, e := range s.entries {
		src := UpdateSource{
			Container:  e.container,
			PackageKit: e.state == SourceReady,
			State:      e.state,
			Reason:     e.reason,
		}
		if e.state == SourceReady {
			src.BusName = e.busName // only a name that is on the bus
		}
		out = append(out, src)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Container < out[j].Container })
	return out
}

// Wait blocks until a container's source is exported (its name owned) or
// ctx ends; it reports whether the source is ready.
func (s *Sources) Wait(ctx context.Context, container string) bool {
	for {
		s.mu.Lock()
		e := s.entries[container]
		s.mu.Unlock()
		if e != nil {
			if e.fwd == nil {
				return false
			}
			select {
			case <-e.fwd.Ready():
				return true
			case <-ctx.Done():
				return false
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Release ends Kapsule's own use of a container's source (a check): if the
// container was started on demand and no client is busy with it, the link
// is dropped and the container stopped again, so its run state is what it
// was before.
func (s *Sources) Release(ctx context.Context, container string) {
	s.mu.Lock()
	e := s.entries[container]
	s.mu.Unlock()
	if e == nil || e.fwd == nil || !s.cfg.Backend.AutoStarted(container) || e.fwd.Busy() {
		return
	}
	e.fwd.Disconnect()
	if _, err := s.cfg.Backend.StopIfAutoStarted(ctx, container); err != nil {
		s.cfg.Log.Warn("stop a container started for a check", "container", container, "error", err)
	}
}

// BusName returns the bus name of a ready source.
func (s *Sources) BusName(container string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[container]
	if e == nil || e.state != SourceReady {
		return "", false
	}
	return e.busName, true
}
