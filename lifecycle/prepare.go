package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
)

// ExecRequest asks to run a command in a container as the user.
type ExecRequest struct {
	Container string            // "" = the default container
	Command   []string          // nil or empty = the login shell
	Cwd       string            // kept when the container has it
	Env       map[string]string // the caller's environment
}

// preparedKey records what was set up in a running container, so a
// warm PrepareExec does no work inside it.
type preparedKey struct {
	links string
}

// forget drops what is known about a container's runtime set-up (after a
// start, stop or restart).
func (m *Manager) forget(name string) {
	m.mu.Lock()
	delete(m.prepared, name)
	delete(m.cache, name)
	m.gen[name]++
	m.mu.Unlock()
}

// changed drops the cached instance after its config or state changed.
func (m *Manager) changed(name string) {
	m.mu.Lock()
	delete(m.cache, name)
	m.gen[name]++
	m.mu.Unlock()
}

// Forget is forget for events seen by the service.
func (m *Manager) Forget(name string) { m.forget(name) }

// DefaultContainer is the configured default container's name.
func (m *Manager) DefaultContainer() string {
	return m.settings().Containers.DefaultContainer
}

// PrepareExec gets a container ready for a command of the user: it starts
// the container if needed, creates the user's account on first use, links
// the desktop sockets, and returns the plan to exec.
func (m *Manager) PrepareExec(ctx context.Context, req ExecRequest) (ExecPlan, error) {
	name := req.Container
	if name == "" {
		name = m.DefaultContainer()
	}
	inst, err := m.instance(ctx, name)
	if err != nil {
		return ExecPlan{}, err
	}
	m.claimed(name) // the user is using it: never stopped behind their back
	if !inst.Running() {
		if err := m.startInstance(ctx, name); err != nil {
			return ExecPlan{}, err
		}
		if err := m.waitBooted(ctx, name); err != nil {
			return ExecPlan{}, err
		}
		if inst, err = m.instance(ctx, name); err != nil {
			return ExecPlan{}, err
		}
	}
	c := m.container(inst)
	acct, err := m.ensureAccount(ctx, inst, c.Options)
	if err != nil {
		return ExecPlan{}, err
	}
	if err := m.ensureRuntime(ctx, name, req.Env, c.Options); err != nil {
		return ExecPlan{}, err
	}
	command := req.Command
	if len(command) == 0 {
		command = []string{acct.Shell, "-l"}
	}
	cwd, command := placeCommand(req.Cwd, command, m.cfg.Host.Home, c.Options)
	return ExecPlan{
		Container: name,
		Command:   command,
		UID:       m.cfg.Host.UID,
		GID:       m.cfg.Host.GID,
		Cwd:       cwd,
		Env:       ExecEnv(req.Env, m.cfg.Host, c.Options, acct.Shell),
	}, nil
}

// waitBooted waits until the container's init has finished booting
// (systemd: is-system-running --wait, at most 30 s), so an exec right
// after a start finds accounts, /run and the system bus in place. Right
// after a start Incus may refuse an exec for a moment; that is retried.
func (m *Manager) waitBooted(ctx context.Context, name string) error {
	_, err := m.execRetry(ctx, name, incus.Cmd{Command: []string{"/bin/sh", "-c", bootedScript}})
	return err
}

// bootedScript waits (at most ~60 s) for a systemd container to finish
// booting; containers with another init are taken as they are.
const bootedScript = `i=0
while [ $i -lt 300 ]; do
	case "$(readlink /proc/1/exe 2>/dev/null)" in
	*systemd*)
		if [ -d /run/systemd/system ]; then
			timeout 30 systemctl is-system-running --wait >/dev/null 2>&1
			exit 0
		fi ;;
	"") ;;
	*) exit 0 ;;
	esac
	i=$((i+1))
	sleep 0.1
done
exit 0
`

// execRetry is Exec, retried for up to 15 s while Incus cannot start the
// command yet (a container that is still starting).
func (m *Manager) execRetry(ctx context.Context, name string, cmd incus.Cmd) (int, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, err := m.cfg.Incus.Exec(ctx, name, cmd)
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) || errors.Is(err, incus.ErrNotFound) ||
			errors.Is(err, incus.ErrUnavailable) || errors.Is(err, incus.ErrPermission) {
			return code, err
		}
		m.log.Debug("exec not possible yet; retrying", "container", name, "error", err)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

const runtimeScript = `set -eu
uid=$1 gid=$2; shift 2
dir=/run/user/$uid
mkdir -p /run/user
[ -d "$dir" ] || mkdir -m 0700 "$dir"
chown "$uid:$gid" "$dir"
while [ $# -ge 2 ]; do
	p=$1 t=$2; shift 2
	d=$(dirname "$p")
	[ -d "$d" ] || { mkdir -p -m 0700 "$d"; chown "$uid:$gid" "$d"; }
	ln -sfn "$t" "$p"
	chown -h "$uid:$gid" "$p"
done
`

// ensureRuntime creates the user's runtime directory in the container
// with links to the host's desktop sockets, once per container boot.
func (m *Manager) ensureRuntime(ctx context.Context, name string, env map[string]string, opts Options) error {
	links := SocketLinks(env, m.cfg.Host, opts)
	var parts []string
	for _, l := range links {
		parts = append(parts, l.Path, l.Target)
	}
	key := preparedKey{links: strings.Join(parts, "\x00")}
	m.mu.Lock()
	done := m.prepared[name] == key
	m.mu.Unlock()
	if done {
		return nil
	}
	args := append([]string{"/bin/sh", "-c", runtimeScript, "kapsule-runtime",
		strconv.FormatUint(uint64(m.cfg.Host.UID), 10), strconv.FormatUint(uint64(m.cfg.Host.GID), 10)}, parts...)
	var stderr strings.Builder
	code, err := m.execRetry(ctx, name, incus.Cmd{Command: args, Stderr: &stderr})
	if err != nil {
		return m.incusError(fmt.Sprintf("prepare %q", name), err)
	}
	if code != 0 {
		return fmt.Errorf("prepare the runtime directory in %q: %s", name, strings.TrimSpace(stderr.String()))
	}
	m.mu.Lock()
	m.prepared[name] = key
	m.mu.Unlock()
	return nil
}

// placeCommand decides where the command starts: in the caller's
// directory when the container has it, else in the home directory (mounted,
// or created by useradd -m). Under a shared mount the host's view decides.
// Elsewhere only the container can tell, so the command is started in the
// home through /bin/sh, which changes to the directory when it can and
// then becomes the command (same process, argv untouched). Asking Incus's
// file API instead would cost more than the exec it prepares.
func placeCommand(cwd string, command []string, home string, opts Options) (string, []string) {
	if cwd == "" || !filepath.IsAbs(cwd) {
		return home, command
	}
	cwd = filepath.Clean(cwd)
	if cwd == home {
		return home, command
	}
	shared := opts.MountHome && within(cwd, home) || opts.HostRootfs && within(cwd, HostFS)
	for _, mnt := range opts.CustomMounts {
		if within(cwd, filepath.Clean(expandHome(mnt, home))) {
			shared = true
		}
	}
	if shared {
		if fi, err := os.Stat(cwd); err == nil && fi.IsDir() {
			return cwd, command
		}
		return home, command
	}
	return home, append([]string{"/bin/sh", "-c", cdScript, "kapsule", cwd}, command...)
}

// cdScript changes to $1 when it can and execs the rest of its arguments.
const cdScript = `cd -- "$1" 2>/dev/null || :; shift; exec "$@"`
