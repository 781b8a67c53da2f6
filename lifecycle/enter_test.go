package lifecycle

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var desktopEnv = map[string]string{
	"PATH":                     "/usr/bin:/home/alice/.local/bin",
	"HOME":                     "/home/alice",
	"TERM":                     "xterm-kitty",
	"LANG":                     "de_DE.UTF-8",
	"WAYLAND_DISPLAY":          "wayland-0",
	"DISPLAY":                  ":0",
	"XAUTHORITY":               "/run/user/1000/xauth_abc",
	"DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus",
	"XDG_RUNTIME_DIR":          "/run/user/1000",
	"XDG_CURRENT_DESKTOP":      "KDE",
	"LD_PRELOAD":               "/usr/lib/libhost.so",
	"QT_PLUGIN_PATH":           "/usr/lib/qt6/plugins",
	"PULSE_SERVER":             "unix:/run/user/1000/pulse/native",
	"KONSOLE_DBUS_SERVICE":     ":1.42",
	"EVIL":                     "a\nb",
	"SHLVL":                    "3",
}

func TestExecEnvCarriesTheDesktopAndDropsTheHost(t *testing.T) {
	t.Parallel()
	env := ExecEnv(desktopEnv, alice, DefaultOptions("img"), "/bin/zsh")
	want := map[string]string{
		"PATH":                     ContainerPath,
		"HOME":                     "/home/alice",
		"USER":                     "alice",
		"SHELL":                    "/bin/zsh",
		"TERM":                     "xterm-kitty",
		"LANG":                     "de_DE.UTF-8",
		"WAYLAND_DISPLAY":          "wayland-0",
		"DISPLAY":                  ":0",
		"XAUTHORITY":               "/run/user/1000/xauth_abc",
		"DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus",
		"XDG_RUNTIME_DIR":          "/run/user/1000",
		"XDG_CURRENT_DESKTOP":      "KDE",
		"PULSE_SERVER":             "unix:/run/user/1000/pulse/native",
		"KONSOLE_DBUS_SERVICE":     ":1.42",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"LD_PRELOAD", "QT_PLUGIN_PATH", "EVIL", "SHLVL"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s reached the container", k)
		}
	}
}

func TestExecEnvHonoursDisabledSockets(t *testing.T) {
	t.Parallel()
	o := DefaultOptions("img")
	o.Wayland, o.X11, o.SessionBus, o.PulseAudio = false, false, false, false
	env := ExecEnv(desktopEnv, alice, o, "/bin/bash")
	for _, k := range []string{"WAYLAND_DISPLAY", "DISPLAY", "XAUTHORITY", "DBUS_SESSION_BUS_ADDRESS", "PULSE_SERVER"} {
		if v, ok := env[k]; ok {
			t.Errorf("%s = %q although its option is off", k, v)
		}
	}
}

func TestSocketLinks(t *testing.T) {
	t.Parallel()
	links := SocketLinks(desktopEnv, alice, DefaultOptions("img"))
	var got []string
	for _, l := range links {
		got = append(got, l.Path+" -> "+l.Target)
	}
	want := []string{
		"/run/user/1000/wayland-0 -> /.kapsule/host/run/user/1000/wayland-0",
		"/run/user/1000/pipewire-0 -> /.kapsule/host/run/user/1000/pipewire-0",
		"/run/user/1000/pulse/native -> /.kapsule/host/run/user/1000/pulse/native",
		"/run/user/1000/bus -> /.kapsule/host/run/user/1000/bus",
		"/run/user/1000/xauth_abc -> /.kapsule/host/run/user/1000/xauth_abc",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("links:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	evil := map[string]string{"WAYLAND_DISPLAY": "../../../etc/shadow"}
	for _, l := range SocketLinks(evil, alice, DefaultOptions("img")) {
		if strings.Contains(l.Path, "..") || strings.Contains(l.Target, "..") {
			t.Errorf("link escapes the runtime dir: %+v", l)
		}
	}
}

func TestIncusExecArgsKeepsArgvExact(t *testing.T) {
	t.Parallel()
	p := ExecPlan{Container: "dev", UID: 1000, GID: 1000, Cwd: "/home/alice/src",
		Env: map[string]string{"B": "2", "A": "x y"}, Command: []string{"printf", "%s\n", "a b", "c'd"}}
	got := strings.Join(IncusExecArgs(p, false), "|")
	want := "incus|exec|--user|1000|--group|1000|--cwd|/home/alice/src|dev|--env|A=x y|--env|B=2|--|printf|%s\n|a b|c'd"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestRootMayMap(t *testing.T) {
	t.Parallel()
	sub := "root:1000000:1000000000\nroot:1000:1\nalice:100000:65536\n"
	if !RootMayMap(strings.NewReader(sub), strings.NewReader(sub), 1000, 1000) {
		t.Error("root:1000:1 not honoured")
	}
	if RootMayMap(strings.NewReader(sub), strings.NewReader(sub), 1001, 1001) {
		t.Error("uid 1001 is not delegated to root")
	}
	if !RootMayMap(strings.NewReader(sub), strings.NewReader(sub), 1000500, 1000500) {
		t.Error("range not honoured")
	}
}

func TestShellFor(t *testing.T) {
	t.Parallel()
	has := map[string]bool{"/bin/bash": true, "/bin/sh": true}
	exists := func(p string) bool { return has[p] }
	if got := ShellFor("/usr/bin/fish", exists); got != "/bin/bash" {
		t.Errorf("fish missing: got %s", got)
	}
	has["/usr/bin/fish"] = true
	if got := ShellFor("/usr/bin/fish", exists); got != "/usr/bin/fish" {
		t.Errorf("got %s", got)
	}
	if got := ShellFor("", func(string) bool { return false }); got != "/bin/sh" {
		t.Errorf("got %s", got)
	}
}

func TestPlaceCommand(t *testing.T) {
	home := t.TempDir()
	project := filepath.Join(home, "src")
	if err := os.Mkdir(project, 0o755); err != nil {
		t.Fatal(err)
	}
	mounted := Options{MountHome: true}
	cmd := []string{"printf", "%s", "a b"}
	wrapped := func(dir string) []string {
		return append([]string{"/bin/sh", "-c", cdScript, "kapsule", dir}, cmd...)
	}
	tests := map[string]struct {
		cwd      string
		opts     Options
		wantCwd  string
		wantArgv []string
	}{
		"no directory":                     {"", mounted, home, cmd},
		"relative directory":               {"src", mounted, home, cmd},
		"the home":                         {home, mounted, home, cmd},
		"under the mounted home":           {project, mounted, project, cmd},
		"cleaned":                          {project + "/./", mounted, project, cmd},
		"gone from the mounted home":       {filepath.Join(home, "gone"), mounted, home, cmd},
		"under an unmounted home":          {project, Options{}, home, wrapped(project)},
		"elsewhere: the container decides": {"/srv/data", mounted, home, wrapped("/srv/data")},
		"under a custom mount":             {project, Options{CustomMounts: []string{"~/src"}}, project, cmd},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cwd, argv := placeCommand(tc.cwd, cmd, home, tc.opts)
			if cwd != tc.wantCwd || !slices.Equal(argv, tc.wantArgv) {
				t.Errorf("placeCommand(%q) = %q, %q; want %q, %q", tc.cwd, cwd, argv, tc.wantCwd, tc.wantArgv)
			}
		})
	}
}

// The wrapper changes directory when it can, keeps going when it cannot,
// and hands the command its arguments untouched.
func TestCdScript(t *testing.T) {
	dir := t.TempDir()
	for cwd, want := range map[string]string{dir: dir, filepath.Join(dir, "missing"): "/"} {
		c := exec.Command("/bin/sh", "-c", cdScript, "kapsule", cwd, "sh", "-c", `pwd; printf '[%s]' "$@"`, "sh", "a b", "", "c'd", "$HOME")
		c.Dir = "/"
		out, err := c.CombinedOutput()
		if got := string(out); err != nil || got != want+"\n[a b][][c'd][$HOME]" {
			t.Errorf("from %s: %q, %v", cwd, got, err)
		}
	}
}
