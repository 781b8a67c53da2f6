package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/kapsulerc"
	"invent.kde.org/kapsule/kapsule/lifecycle"
	"invent.kde.org/kapsule/kapsule/packagekit"
	"invent.kde.org/kapsule/kapsule/packagekit/updates"
)

// updateSource gives the update service PackageKit clients through the
// containers' own names on the session bus, the same way Discover reaches
// them (one upstream link per container, shared).
type updateSource struct {
	sources *bridge.Sources
	conn    *dbus.Conn // kapsuled's own client connection to the session bus
	log     *slog.Logger
}

func (u *updateSource) Containers(ctx context.Context) ([]string, error) {
	var out []string
	for _, s := range u.sources.List() {
		if s.PackageKit {
			out = append(out, s.Container)
		}
	}
	return out, nil
}

func (u *updateSource) Open(ctx context.Context, container string) (*packagekit.Client, func(), error) {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	ready := u.sources.Wait(wctx, container)
	cancel()
	bus, ok := u.sources.BusName(container)
	if !ready || !ok {
		for _, s := range u.sources.List() {
			if s.Container == container && s.Reason != "" {
				return nil, nil, fmt.Errorf("%w: %s", lifecycle.ErrUnsupported, s.Reason)
			}
		}
		return nil, nil, fmt.Errorf("%w: %s is not an update source (see 'kapsule-update status')", lifecycle.ErrNotFound, container)
	}
	pk, err := packagekit.NewClient(ctx, u.conn, bus, packagekit.WithLogger(u.log))
	if err != nil {
		return nil, nil, fmt.Errorf("reach PackageKit in %s: %w", container, err)
	}
	return pk, func() { u.sources.Release(context.WithoutCancel(ctx), container) }, nil
}

// updatesAPI is the Manager's view of the update service.
type updatesAPI struct {
	svc      *updates.Service
	sources  *bridge.Sources
	settings func() *kapsulerc.Config
}

func (a *updatesAPI) Sources(ctx context.Context) []bridge.UpdateSource { return a.sources.List() }

func (a *updatesAPI) Summaries() map[string]map[string]dbus.Variant {
	st := a.svc.Snapshot()
	next, _ := a.svc.Next()
	out := map[string]map[string]dbus.Variant{}
	add := func(name string, c *updates.ContainerState) {
		skipped := ""
		if st.LastSkip != nil {
			skipped = st.LastSkip.Reason
		}
		out[name] = map[string]dbus.Variant{
			"count":      dbus.MakeVariant(c.Count),
			"security":   dbus.MakeVariant(c.Security),
			"last_check": dbus.MakeVariant(unix(c.LastCheck)),
			"last_error": dbus.MakeVariant(c.LastError),
			"next_check": dbus.MakeVariant(unix(next)),
			"skipped":    dbus.MakeVariant(skipped),
		}
	}
	for _, s := range a.sources.List() {
		c := st.Containers[s.Container]
		if c == nil {
			c = &updates.ContainerState{}
			if !s.PackageKit {
				c.LastError = s.Reason
			}
		}
		add(s.Container, c)
	}
	// Results kept from before (a freshly started kapsuled that has not
	// looked at every container yet) are shown too.
	for name, c := range st.Containers {
		if _, ok := out[name]; !ok {
			add(name, c)
		}
	}
	return out
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func (a *updatesAPI) List(container string) ([]bridge.UpdateRow, error) {
	if err := lifecycle.ValidateName(container); err != nil {
		return nil, err
	}
	st := a.svc.Snapshot()
	c := st.Containers[container]
	if c == nil {
		found := false
		for _, s := range a.sources.List() {
			found = found || s.Container == container
		}
		if !found {
			return nil, fmt.Errorf("%w: no container %q", lifecycle.ErrNotFound, container)
		}
		return []bridge.UpdateRow{}, nil
	}
	rows := make([]bridge.UpdateRow, 0, len(c.Updates))
	for _, u := range c.Updates {
		rows = append(rows, bridge.UpdateRow{PackageID: u.PackageID, Installed: u.Installed, Severity: u.Severity, Summary: u.Summary})
	}
	return rows, nil
}

func (a *updatesAPI) Status(ctx context.Context) map[string]dbus.Variant {
	st := a.svc.Snapshot()
	next, gate := a.svc.Next()
	cfg := a.settings()
	m := map[string]dbus.Variant{
		"schedule":   dbus.MakeVariant(cfg.Updates.Schedule),
		"last_run":   dbus.MakeVariant(unix(st.LastRun)),
		"next_run":   dbus.MakeVariant(unix(next)),
		"auto_apply": dbus.MakeVariant(cfg.Updates.AutoApply),
		"gating":     dbus.MakeVariant(gateMap(gate)),
		"skipped":    dbus.MakeVariant(""),
		"skipped_at": dbus.MakeVariant(int64(0)),
	}
	if st.LastSkip != nil {
		m["skipped"] = dbus.MakeVariant(st.LastSkip.Reason)
		m["skipped_at"] = dbus.MakeVariant(unix(st.LastSkip.Time))
	}
	return m
}

func gateMap(g updates.GateState) map[string]string {
	if g.Metered == "" {
		g = updates.GateState{Metered: updates.GateUnknown, Battery: updates.GateUnknown, PowerSaver: updates.GateUnknown}
	}
	return g.Map()
}

func (a *updatesAPI) Check(ctx context.Context, containers []string, r lifecycle.Reporter) error {
	r.Started("check", "Checking for updates", -1)
	err := a.svc.Check(ctx, containers, func(container, status string, pct int) {
		r.Text(container, fmt.Sprintf("%s: %s", container, status))
	})
	snap := a.svc.Snapshot()
	for name, c := range snap.Containers {
		if len(containers) > 0 && !contains(containers, name) {
			continue
		}
		if c.LastError == "" {
			r.Message(lifecycle.MessageInfo, fmt.Sprintf("%s: %d updates (%d security)", name, c.Count, c.Security))
		}
	}
	r.Completed("check", err == nil, "")
	return err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (a *updatesAPI) Apply(ctx context.Context, container string, ids []string, r lifecycle.Reporter) error {
	r.Started(container, "Updating "+container, 100)
	applied, err := a.svc.Apply(ctx, container, ids, func(status string, pct int) {
		if pct >= 0 && pct <= 100 {
			r.Update(container, pct, 0)
		}
		r.Text(container, fmt.Sprintf("%s: %s", container, status))
	})
	if err != nil {
		r.Completed(container, false, err.Error())
		return err
	}
	r.Completed(container, true, fmt.Sprintf("%s: %d packages updated", container, len(applied)))
	return nil
}

// updateSettings turns kapsulerc into the service's settings.
func updateSettings(c *kapsulerc.Config) updates.Settings {
	sched, err := kapsulerc.ParseSchedule(c.Updates.Schedule)
	if err != nil {
		sched, _ = kapsulerc.ParseSchedule("@daily")
	}
	return updates.Settings{
		Plan: updates.Plan{
			Schedule:     sched,
			StartupDelay: c.Updates.StartupDelay,
			Jitter:       c.Updates.Jitter,
			RetryAfter:   30 * time.Minute,
		},
		Schedule:      c.Updates.Schedule,
		Gate:          updates.GatePolicy{SkipOnMetered: c.Updates.SkipOnMetered, MinBattery: c.Updates.MinBattery, SkipOnPowerSaver: c.Updates.SkipOnPowerSaver},
		MaxConcurrent: c.Updates.MaxConcurrent,
		AutoApply:     c.Updates.AutoApply,
		Notify:        c.Updates.Notify,
	}
}
