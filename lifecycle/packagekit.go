package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
)

// Where a container's PackageKit and systemd-stdio-bridge are looked for.
var (
	packageKitServiceFiles = []string{
		"/usr/share/dbus-1/system-services/org.freedesktop.PackageKit.service",
		"/usr/local/share/dbus-1/system-services/org.freedesktop.PackageKit.service",
	}
	stdioBridgePaths = []string{
		"/usr/bin/systemd-stdio-bridge",
		"/usr/lib/systemd/systemd-stdio-bridge",
		"/lib/systemd/systemd-stdio-bridge",
	}
)

// PackageKitSupport says whether a container can be an update source.
type PackageKitSupport struct {
	OK     bool
	Reason string // why not, in words for the user
	bridge string // path of systemd-stdio-bridge inside
}

// ProbePackageKit looks, without starting the container, for PackageKit's
// D-Bus activation file and for systemd-stdio-bridge, which Kapsule runs
// inside to reach the container's system bus.
func (m *Manager) ProbePackageKit(ctx context.Context, name string) (PackageKitSupport, error) {
	if _, err := m.instance(ctx, name); err != nil {
		return PackageKitSupport{}, err
	}
	found := func(paths []string) (string, error) {
		for _, p := range paths {
			rc, _, err := m.cfg.Incus.PullFile(ctx, name, p)
			if err == nil {
				if rc != nil {
					rc.Close()
				}
				return p, nil
			}
			if !errors.Is(err, incus.ErrNotFound) {
				return "", m.incusError(fmt.Sprintf("look into %q", name), err)
			}
		}
		return "", nil
	}
	pk, err := found(packageKitServiceFiles)
	if err != nil {
		return PackageKitSupport{}, err
	}
	if pk == "" {
		return PackageKitSupport{Reason: "PackageKit is not installed in the container (install the packagekit package there)"}, nil
	}
	br, err := found(stdioBridgePaths)
	if err != nil {
		return PackageKitSupport{}, err
	}
	if br == "" {
		return PackageKitSupport{Reason: "the container has no systemd-stdio-bridge (Kapsule reaches PackageKit through systemd's D-Bus tools)"}, nil
	}
	return PackageKitSupport{OK: true, bridge: br}, nil
}

// EnsureRunning starts a stopped container on behalf of Kapsule itself
// (an update source being used, a scheduled check) and reports whether it
// did. Such a container is stopped again by StopIfAutoStarted, unless the
// user started using it meanwhile.
func (m *Manager) EnsureRunning(ctx context.Context, name string) (bool, error) {
	inst, err := m.instance(ctx, name)
	if err != nil {
		return false, err
	}
	m.mu.Lock()
	// A container a previous kapsuled left running is ours now: stopped
	// after this use like one started here, not under it.
	delete(m.leftovers, name)
	m.mu.Unlock()
	if inst.Running() {
		return false, nil
	}
	m.log.Info("starting on demand", "container", name)
	// Recorded before the start: Incus finishes a start even when kapsuled
	// is killed while it waits, and the next kapsuled must know to stop it.
	m.mu.Lock()
	m.autoStarted[name] = true
	m.saveAutoStartedLocked()
	m.mu.Unlock()
	if err := m.startInstance(ctx, name); err != nil {
		m.claimed(name) // not started by us after all
		return false, err
	}
	if err := m.waitBooted(ctx, name); err != nil {
		return true, err
	}
	return true, nil
}

// AutoStarted reports whether Kapsule started the container on its own
// and nobody has used it since.
func (m *Manager) AutoStarted(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.autoStarted[name]
}

// claimed records that the user started or entered a container: Kapsule
// never stops a container the user is using.
func (m *Manager) claimed(name string) {
	m.mu.Lock()
	delete(m.leftovers, name)
	if m.autoStarted[name] {
		delete(m.autoStarted, name)
		m.saveAutoStartedLocked()
	}
	m.mu.Unlock()
}

// Stopped records that a container stopped, restarted or went away,
// whoever did it: a start on demand ends there, so that a container the
// user starts next, with Kapsule or without, is never stopped behind their
// back. kapsuled calls it on Incus' lifecycle events.
func (m *Manager) Stopped(name string) { m.claimed(name) }

// StopIfAutoStarted stops a container Kapsule started on its own, if the
// user has not started using it since; it reports whether it stopped it.
func (m *Manager) StopIfAutoStarted(ctx context.Context, name string) (bool, error) {
	if !m.AutoStarted(name) {
		return false, nil
	}
	m.claimed(name) // whatever happens next, it is no longer ours to stop
	inst, err := m.instance(ctx, name)
	if err != nil || !inst.Running() {
		return false, nil
	}
	m.log.Info("stopping what was started on demand", "container", name)
	if err := m.stopInstance(ctx, name, false); err != nil {
		return false, err
	}
	return true, nil
}

// PackageKitStream starts the container if needed and returns a byte
// stream to its system bus: systemd-stdio-bridge run as root inside, so
// polkit there grants PackageKit's actions. The stream ends when ctx does.
func (m *Manager) PackageKitStream(ctx context.Context, name string, stderr io.Writer) (io.ReadWriteCloser, error) {
	sup, err := m.ProbePackageKit(ctx, name)
	if err != nil {
		return nil, err
	}
	if !sup.OK {
		return nil, fmt.Errorf("%w: container %q: %s", ErrUnsupported, name, sup.Reason)
	}
	if _, err := m.EnsureRunning(ctx, name); err != nil {
		return nil, err
	}
	var opts []incus.StreamOption
	if stderr != nil {
		opts = append(opts, incus.StreamStderr(stderr))
	}
	// Wait for the system bus socket (a container that is still booting),
	// then become systemd-stdio-bridge.
	script := `i=0; while [ ! -S /run/dbus/system_bus_socket ] && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.1; done; exec "$0"`
	s, err := m.cfg.Incus.ExecStream(ctx, name, []string{"/bin/sh", "-c", script, sup.bridge}, nil, opts...)
	if err != nil {
		return nil, m.incusError(fmt.Sprintf("connect to the system bus of %q", name), err)
	}
	return s, nil
}

// SharedPath checks that a host path is visible at the same path inside
// the container (what PackageKit's file-taking calls need).
func (m *Manager) SharedPath(ctx context.Context, name, path string) error {
	c, err := m.Get(ctx, name)
	if err != nil {
		return err
	}
	p := filepath.Clean(path)
	home := m.cfg.Host.Home
	if c.Options.MountHome && within(p, home) {
		return nil
	}
	for _, mnt := range c.Options.CustomMounts {
		if within(p, filepath.Clean(expandHome(mnt, home))) {
			return nil
		}
	}
	where := "your home directory"
	if !c.Options.MountHome {
		where = "a directory mounted into it (custom_mounts)"
	}
	return fmt.Errorf("%q is not shared with container %q: put the file in %s", path, name, where)
}

// logWriter turns a stream's stderr into log lines.
type logWriter struct {
	log  *slog.Logger
	name string
}

// StderrLog returns a writer that logs what a container-side helper says.
func StderrLog(log *slog.Logger, container string) io.Writer {
	return &logWriter{log: log, name: container}
}

func (w *logWriter) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line != "" {
			w.log.Debug("systemd-stdio-bridge", "container", w.name, "stderr", line)
		}
	}
	return len(b), nil
}
