package lifecycle

import (
	"path"
	"sort"
	"strconv"
	"strings"
)

// ExecPlan is everything needed to run a command in a container as the
// user: what the service hands to kap (PrepareExec) and what it turns into
// an `incus exec` command line (PrepareEnter).
type ExecPlan struct {
	Container string
	Command   []string
	UID, GID  uint32
	Cwd       string
	Env       map[string]string
}

// skipEnv are host variables that must not reach the container: they name
// host paths or host processes, or describe the host shell itself.
var skipEnv = map[string]bool{
	"PATH": true, "HOSTNAME": true, "HOST": true, "SHLVL": true, "PWD": true, "OLDPWD": true, "_": true,
	"LD_PRELOAD": true, "LD_LIBRARY_PATH": true, "LD_AUDIT": true,
	"XDG_DATA_DIRS": true, "XDG_CONFIG_DIRS": true, "MANPATH": true, "INFOPATH": true,
	"QT_PLUGIN_PATH": true, "QML2_IMPORT_PATH": true, "QML_IMPORT_PATH": true, "QTWEBENGINEPROCESS_PATH": true,
	"GTK_PATH": true, "GTK_EXE_PREFIX": true, "GIO_EXTRA_MODULES": true, "GST_PLUGIN_PATH": true,
	"GST_PLUGIN_SYSTEM_PATH": true, "PKG_CONFIG_PATH": true, "PYTHONPATH": true,
	"DBUS_SYSTEM_BUS_ADDRESS": true, "SHELL": true, "MAIL": true,
	"INVOCATION_ID": true, "JOURNAL_STREAM": true, "MANAGERPID": true, "NOTIFY_SOCKET": true,
	"SYSTEMD_EXEC_PID": true, "LISTEN_PID": true, "LISTEN_FDS": true, "LISTEN_FDNAMES": true,
	"WATCHDOG_PID": true, "WATCHDOG_USEC": true, "MEMORY_PRESSURE_WATCH": true, "MEMORY_PRESSURE_WRITE": true,
	"XDG_SESSION_ID": true, "XDG_SEAT": true, "XDG_VTNR": true, "XDG_SEAT_PATH": true, "XDG_SESSION_PATH": true,
	"KAPSULE_START_DIR": true,
}

// ContainerPath is PATH inside containers.
const ContainerPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ContainerRuntimeDir is the user's XDG_RUNTIME_DIR inside a container.
func ContainerRuntimeDir(uid uint32) string {
	return "/run/user/" + strconv.FormatUint(uint64(uid), 10)
}

// Link is a symlink Kapsule creates in the container's runtime directory
// so that a host socket appears where clients look for it. A symlink (not
// a bind mount of the socket) keeps working when the host recreates it.
type Link struct {
	Path   string // inside the container, under /run/user/UID
	Target string // under the host runtime dir mount
}

// SocketLinks are the links for the desktop sockets the options share.
func SocketLinks(callerEnv map[string]string, h Host, o Options) []Link {
	if h.RuntimeDir == "" {
		return nil
	}
	in, out := ContainerRuntimeDir(h.UID), RuntimeMount(h)
	var links []Link
	add := func(rel string) {
		rel = path.Clean(rel)
		if rel == "." || strings.HasPrefix(rel, "../") || rel == ".." || path.IsAbs(rel) {
			return
		}
		links = append(links, Link{Path: in + "/" + rel, Target: out + "/" + rel})
	}
	if o.Wayland {
		if w := callerEnv["WAYLAND_DISPLAY"]; w != "" {
			add(relToRuntime(w, h.RuntimeDir))
		}
	}
	if o.PipeWire {
		add("pipewire-0")
	}
	if o.PulseAudio {
		add("pulse/native")
	}
	if o.SessionBus {
		if p := busPath(callerEnv["DBUS_SESSION_BUS_ADDRESS"]); p != "" && strings.HasPrefix(p, h.RuntimeDir+"/") {
			add(strings.TrimPrefix(p, h.RuntimeDir+"/"))
		} else {
			add("bus")
		}
	}
	if o.X11 {
		if xa := callerEnv["XAUTHORITY"]; strings.HasPrefix(xa, h.RuntimeDir+"/") {
			add(strings.TrimPrefix(xa, h.RuntimeDir+"/"))
		}
	}
	return links
}

func relToRuntime(p, runtime string) string {
	if strings.HasPrefix(p, runtime+"/") {
		return strings.TrimPrefix(p, runtime+"/")
	}
	if path.IsAbs(p) {
		return "" // a socket elsewhere: not shared
	}
	return p
}

// busPath extracts the socket path of a unix:path= bus address.
func busPath(addr string) string {
	for _, part := range strings.Split(addr, ";") {
		if !strings.HasPrefix(part, "unix:") {
			continue
		}
		for _, kv := range strings.Split(strings.TrimPrefix(part, "unix:"), ",") {
			if v, ok := strings.CutPrefix(kv, "path="); ok {
				return v
			}
		}
	}
	return ""
}

// ExecEnv is the environment of a command run as the user in a container:
// the caller's environment without what names the host (skipEnv), with
// the desktop sockets pointing at the links of SocketLinks and the
// container's own PATH, HOME, USER and SHELL.
func ExecEnv(callerEnv map[string]string, h Host, o Options, shell string) map[string]string {
	env := map[string]string{}
	for k, v := range callerEnv {
		if skipEnv[k] || k == "" || strings.ContainsAny(v, "\n\x00") || strings.ContainsAny(k, "=\x00") {
			continue
		}
		env[k] = v
	}
	runtime := ContainerRuntimeDir(h.UID)
	env["PATH"] = ContainerPath
	env["HOME"] = h.Home
	env["USER"] = h.User
	env["LOGNAME"] = h.User
	env["SHELL"] = shell
	env["XDG_RUNTIME_DIR"] = runtime
	if _, ok := env["TERM"]; !ok {
		env["TERM"] = "xterm-256color"
	}
	if _, ok := env["LANG"]; !ok {
		env["LANG"] = "C.UTF-8"
	}
	if !o.Wayland {
		delete(env, "WAYLAND_DISPLAY")
	} else if w := env["WAYLAND_DISPLAY"]; w != "" {
		if rel := relToRuntime(w, h.RuntimeDir); rel != "" {
			env["WAYLAND_DISPLAY"] = rel
		} else {
			delete(env, "WAYLAND_DISPLAY")
		}
	}
	if !o.X11 || h.X11Dir == "" {
		delete(env, "DISPLAY")
		delete(env, "XAUTHORITY")
	} else if xa := env["XAUTHORITY"]; strings.HasPrefix(xa, h.RuntimeDir+"/") {
		env["XAUTHORITY"] = runtime + "/" + strings.TrimPrefix(xa, h.RuntimeDir+"/")
	}
	if !o.SessionBus {
		delete(env, "DBUS_SESSION_BUS_ADDRESS")
	} else {
		p := busPath(env["DBUS_SESSION_BUS_ADDRESS"])
		if p != "" && strings.HasPrefix(p, h.RuntimeDir+"/") {
			env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + runtime + "/" + strings.TrimPrefix(p, h.RuntimeDir+"/")
		} else {
			env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + runtime + "/bus"
		}
	}
	if !o.PulseAudio {
		delete(env, "PULSE_SERVER")
	} else if ps := env["PULSE_SERVER"]; ps != "" {
		if p := strings.TrimPrefix(ps, "unix:"); strings.HasPrefix(p, h.RuntimeDir+"/") {
			env["PULSE_SERVER"] = "unix:" + runtime + "/" + strings.TrimPrefix(p, h.RuntimeDir+"/")
		} else {
			delete(env, "PULSE_SERVER")
		}
	}
	if !o.PipeWire {
		delete(env, "PIPEWIRE_REMOTE")
	}
	return env
}

// IncusExecArgs renders a plan as an `incus exec` command line (what the
// earlier daemon's PrepareEnter returned and its clients run).
func IncusExecArgs(p ExecPlan, interactive bool) []string {
	args := []string{"incus", "exec"}
	if interactive {
		args = append(args, "--force-interactive")
	}
	args = append(args, "--user", strconv.FormatUint(uint64(p.UID), 10),
		"--group", strconv.FormatUint(uint64(p.GID), 10), "--cwd", p.Cwd, p.Container)
	keys := make([]string, 0, len(p.Env))
	for k := range p.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--env", k+"="+p.Env[k])
	}
	return append(append(args, "--"), p.Command...)
}
