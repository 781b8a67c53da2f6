package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sync/errgroup"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/kapsulerc"
	"invent.kde.org/kapsule/kapsule/lifecycle"
	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
	"invent.kde.org/kapsule/kapsule/packagekit/updates"
	"invent.kde.org/kapsule/kapsule/systemd"
)

// service is kapsuled's wiring: every long-lived part and who owns it.
type service struct {
	log      *slog.Logger
	notifier *systemd.Notifier
	session  *dbus.Conn
	incus    *incus.Client
	socket   string
	project  string
	life     *lifecycle.Manager
	ops      *bridge.Operations
	manager  *bridge.Manager
	sources  *bridge.Sources
	updates  *updates.Service
	checker  *dbus.Conn // kapsuled's own client connection (update checks)
	system   *dbus.Conn // nil without a system bus
	desktop  *updates.Desktop
}

func newService(ctx context.Context, log *slog.Logger, n *systemd.Notifier) (*service, error) {
	host, err := lifecycle.CurrentHost()
	if err != nil {
		return nil, err
	}
	client, socket, project, restricted, err := connectIncus(ctx, host)
	if err != nil {
		return nil, err
	}
	log.Info("connected to Incus", "socket", socket, "project", project, "restricted", restricted)

	session, err := bridge.DialSession()
	if err != nil {
		client.Close()
		return nil, err
	}
	s := &service{log: log, notifier: n, session: session, incus: client, socket: socket, project: project}
	settings := func() *kapsulerc.Config { return kapsulerc.Load() }
	for _, p := range settings().Problems {
		log.Warn("configuration problem", "problem", p.Error())
	}
	s.life = lifecycle.NewManager(lifecycle.Config{
		Incus:      client,
		Socket:     socket,
		Project:    project,
		Restricted: restricted,
		Host:       host,
		Settings:   settings,
		StateDir:   stateDir(),
		Log:        log,
	})
	if s.ops, err = bridge.NewOperations(session, log, 60*time.Second); err != nil {
		s.close()
		return nil, err
	}
	if s.checker, err = bridge.DialSession(); err != nil {
		s.close()
		return nil, err
	}
	s.system = systemBus(log)
	s.desktop = updates.NewDesktop(session)
	s.sources = bridge.NewSources(bridge.SourcesConfig{
		SessionAddress: os.Getenv("DBUS_SESSION_BUS_ADDRESS"),
		Backend:        s.life,
		IdleStop:       settings().Bridge.IdleStop,
		KeepLinks:      settings().Bridge.KeepLinks,
		Changed:        func() { s.signals().UpdateSourcesChanged() },
		Log:            log,
	})
	s.updates, err = updates.NewService(updates.Config{
		Source:   &updateSource{sources: s.sources, conn: s.checker, log: log},
		Store:    updates.NewStore(filepath.Join(stateDir(), "updates.json")),
		Settings: func() updates.Settings { return updateSettings(settings()) },
		Gate:     updates.NewSystemGate(s.system),
		Events: updates.Events{
			UpdatesChanged: func(c string, n, sec uint32) { s.signals().UpdatesChanged(c, n, sec) },
			Checked: func() {
				if err := s.desktop.PokeDiscover(); err != nil {
					log.Debug("poke Discover's notifier", "error", err)
				}
				s.status()
			},
			Notify: func(ctx context.Context, sum updates.Summary, security bool) error {
				_, err := s.desktop.Notify(ctx, sum, security)
				return err
			},
			Inhibit: inhibitor(s.system),
		},
		Log:  log,
		Wake: wakeups(ctx, s.system),
	})
	if err != nil {
		s.close()
		return nil, err
	}
	if s.manager, err = bridge.ExportManager(bridge.ManagerConfig{
		Conn:       session,
		Containers: s.life,
		Updates:    &updatesAPI{svc: s.updates, sources: s.sources, settings: settings},
		Operations: s.ops,
		Settings:   settings,
		Version:    Version,
		Socket:     socket,
		Project:    project,
		Log:        log,
	}); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func stateDir() string { return filepath.Join(xdg("XDG_STATE_HOME", ".local/state"), "kapsule") }

func xdg(env, fallback string) string {
	if d := os.Getenv(env); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, fallback)
}

// connectIncus picks the admin socket when the user may use it, else the
// incus-user socket (a per-user, restricted project), and says why when
// neither works. Like the incus CLI, it takes the incus-user socket only
// when the admin socket is not the user's to use (permission denied, or
// no such socket): an admin whose Incus is down or restarting gets that
// error, not a silent switch to another project where none of their
// containers are.
func connectIncus(ctx context.Context, host lifecycle.Host) (*incus.Client, string, string, bool, error) {
	admin := incus.DefaultSocket()
	c := incus.NewUnix(admin)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, adminErr := c.Server(cctx)
	if adminErr == nil {
		return c, admin, "", false, nil
	}
	c.Close()
	if !errors.Is(adminErr, incus.ErrPermission) && !errors.Is(adminErr, fs.ErrNotExist) {
		return nil, "", "", false, fmt.Errorf("cannot reach Incus: %w", adminErr)
	}
	user := incus.UserSocket()
	project := "user-" + strconv.FormatUint(uint64(host.UID), 10)
	uc := incus.NewUnix(user, incus.WithProject(project))
	srv, userErr := uc.Server(cctx)
	if userErr == nil {
		if srv.Environment.Project != "" {
			project = srv.Environment.Project
		}
		return uc, user, project, true, nil
	}
	uc.Close()
	return nil, "", "", false, fmt.Errorf("cannot reach Incus: admin socket: %v; incus-user socket: %v", adminErr, userErr)
}

// errSessionLost ends Run when the session bus connection is gone: the
// session ended (or its bus died), which is no failure of kapsuled; the
// next session activates a fresh one.
var errSessionLost = errors.New("session bus connection lost")

// Run exports everything, takes the bus name, signals readiness, and runs
// until ctx ends or the session bus goes away.
func (s *service) Run(ctx context.Context) error {
	defer s.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)

	// The session bus connection is our lifeline: without it nobody can
	// reach us, and the next activation starts a fresh kapsuled.
	g.Go(func() error {
		select {
		case <-gctx.Done():
			return nil
		case <-s.session.Context().Done():
			s.log.Info("session bus connection lost; exiting")
			return errSessionLost
		}
	})
	g.Go(func() error {
		return s.life.Watch(gctx, func(ch lifecycle.Change) {
			switch ch.Action {
			case incus.InstanceCreated, incus.InstanceDeleted, incus.InstanceStarted, incus.InstanceStopped,
				incus.InstanceShutdown, incus.InstanceRestarted, incus.InstanceRenamed, lifecycle.Resync:
				s.signals().ContainersChanged()
			}
			switch ch.Action {
			case incus.InstanceStopped, incus.InstanceShutdown, incus.InstanceRestarted, incus.InstanceDeleted:
				// Whoever stopped it: a start on demand is over.
				s.life.Stopped(ch.Container)
			}
			switch ch.Action {
			case incus.InstanceRenamed, lifecycle.Resync:
				s.sources.Resync()
			case incus.InstanceCreated, incus.InstanceDeleted:
				s.sources.Look(ch.Container)
			case incus.InstanceUpdated:
				// Its configuration changed (PackageKit may have come or
				// gone with it, and `incus config set` is the way to ask
				// for a fresh look): look again.
				s.sources.Reprobe(ch.Container)
			}
			if ch.Action == incus.InstanceDeleted {
				s.updates.Forget(ch.Container)
			}
		})
	})
	g.Go(func() error {
		s.life.StopLeftovers(gctx)
		return nil
	})
	g.Go(func() error { return s.sources.Run(gctx) })
	g.Go(func() error { return s.updates.Run(gctx) })

	reply, err := s.session.RequestName(bridge.ServiceName, dbus.NameFlagDoNotQueue)
	if err != nil {
		return fmt.Errorf("request %s: %w", bridge.ServiceName, err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		return fmt.Errorf("%s is already owned on this session bus: another kapsuled is running", bridge.ServiceName)
	}
	count := "no containers"
	if cs, err := s.life.List(ctx); err == nil {
		count = fmt.Sprintf("%d containers", len(cs))
	}
	_ = s.notifier.Ready(fmt.Sprintf("Serving %s (%s) on Incus %s", bridge.ServiceName, count, s.socket))
	s.log.Info("ready", "name", bridge.ServiceName, "containers", count)

	g.Go(func() error {
		return s.notifier.RunWatchdog(gctx, func(hctx context.Context) bool {
			return s.session.Connected()
		})
	})
	err = g.Wait()
	_ = s.notifier.Stopping("Stopping")
	if _, rerr := s.session.ReleaseName(bridge.ServiceName); rerr != nil && !strings.Contains(rerr.Error(), "closed") {
		s.log.Debug("release name", "error", rerr)
	}
	return err
}

func (s *service) signals() bridge.ManagerSignals { return bridge.Signals(s.manager) }

// status sets the line `systemctl --user status kapsuled` shows: what is
// served and what the last checks found.
func (s *service) status() {
	sources, ready := 0, 0
	for _, src := range s.sources.List() {
		sources++
		if src.PackageKit {
			ready++
		}
	}
	snap := s.updates.Snapshot()
	count, security := snap.Totals()
	next, gate := s.updates.Next()
	line := fmt.Sprintf("%s (%s); %s pending (%d security)", plural(sources, "container"), plural(ready, "update source"), plural(int(count), "update"), security)
	if !next.IsZero() {
		line += "; next check " + next.Local().Format("2006-01-02 15:04")
	}
	if gate.Reason != "" {
		line += "; last scheduled check skipped: " + gate.Reason
	}
	_ = s.notifier.Status(line)
}

func (s *service) close() {
	if s.ops != nil {
		s.ops.Close()
	}
	if s.checker != nil {
		s.checker.Close()
	}
	if s.system != nil {
		s.system.Close()
	}
	if s.session != nil {
		s.session.Close()
	}
	if s.incus != nil {
		s.incus.Close()
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
