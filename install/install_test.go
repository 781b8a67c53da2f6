//go:build !e2e

// Not in the end-to-end run: these tests build every binary with the
// caller's Go toolchain and module cache, which the test user of
// testbed/as-user does not have; `make test-unit` runs them.

package install

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"go/build"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/systemd"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// repo is the module root, where the Makefile is.
const repo = ".."

// nested is set in the environment of the make runs these tests start, so
// that a make target which ever ran the unit tests would not recurse.
const nested = "KAPSULE_INSTALL_TEST"

// need returns the path of a tool the test cannot do without; without it
// the test is skipped, or fails in CI.
func need(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if testbed.InCI() {
			t.Fatalf("%s is needed and missing in CI: %v", tool, err)
		}
		t.Skipf("%s not found: %v", tool, err)
	}
	return p
}

// runMake runs a target of the real Makefile with these
// variables, building into bin (never the work tree's bin/).
func runMake(t *testing.T, target, bin string, vars ...string) {
	t.Helper()
	if os.Getenv(nested) != "" {
		t.Skipf("inside a make run started by this test (%s is set)", nested)
	}
	mk, gocmd := need(t, "make"), need(t, "go")
	args := append([]string{"-C", repo, "--no-print-directory", target, "BIN=" + bin, "GO=" + gocmd}, vars...)
	cmd := exec.Command(mk, args...)
	cmd.Env = append(cleanEnv(), nested+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// cleanEnv is this process's environment without what would leak a
// surrounding make run (or a user's PREFIX) into the tested one.
func cleanEnv() []string {
	drop := []string{"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "GNUMAKEFLAGS",
		"DESTDIR", "PREFIX", "BINDIR", "DATADIR", "USERUNITDIR", "DBUSDIR", "BASHCOMPDIR", "ZSHCOMPDIR", "FISHCOMPDIR"}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(drop, name) {
			env = append(env, kv)
		}
	}
	return env
}

// commands returns the binaries the source tree has: every main package
// in cmd/. kap and kapsuled always; kapsule-update once it has landed.
func commands(t *testing.T) []string {
	t.Helper()
	dirs, err := os.ReadDir(filepath.Join(repo, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		pkg, err := build.ImportDir(filepath.Join(repo, "cmd", d.Name()), 0)
		var none *build.NoGoError
		if errors.As(err, &none) {
			continue
		}
		if err != nil {
			t.Fatalf("cmd/%s: %v", d.Name(), err)
		}
		if pkg.Name == "main" {
			cmds = append(cmds, d.Name())
		}
	}
	for _, must := range []string{"kap", "kapsuled"} {
		if !slices.Contains(cmds, must) {
			t.Fatalf("no main package cmd/%s (found %v)", must, cmds)
		}
	}
	return cmds
}

// file is what one installed path must be.
type file struct {
	mode  fs.FileMode // permission bits; fs.ModeSymlink for a symlink
	link  string      // symlink target
	same  string      // a file it must equal byte for byte
	want  string      // exact content
	check func(t *testing.T, data []byte)
}

// The tests below are not parallel: the first builds every binary, the
// second finds them in the build cache.

func TestInstallTreeAndUninstall(t *testing.T) {
	tmp := t.TempDir()
	bin, dest := filepath.Join(tmp, "bin"), filepath.Join(tmp, "dest")
	const prefix = "/usr"
	runMake(t, "install", bin, "DESTDIR="+dest, "PREFIX="+prefix)

	cmds := commands(t)
	want := map[string]file{
		"usr/bin/kapsule": {mode: fs.ModeSymlink, link: "kap"},
		"usr/lib/systemd/user/kapsuled.service": {mode: 0o644, want: systemd.Unit(prefix + "/bin"), check: func(t *testing.T, data []byte) {
			svc := keyFile(t, data)["Service"]
			if got := svc["ExecStart"]; got != prefix+"/bin/kapsuled" {
				t.Errorf("ExecStart=%s, want the installed %s/bin/kapsuled", got, prefix)
			}
			if svc["BusName"] != bridge.ServiceName {
				t.Errorf("BusName=%s, want %s, the name kapsuled owns", svc["BusName"], bridge.ServiceName)
			}
		}},
		"usr/share/dbus-1/services/org.kde.kapsule.service": {mode: 0o644, want: systemd.ActivationFile(prefix + "/bin"), check: func(t *testing.T, data []byte) {
			// dbus-daemon(1), "Integrating session services".
			s := keyFile(t, data)["D-BUS Service"]
			if s["Name"] != bridge.ServiceName {
				t.Errorf("Name=%s, want %s (the file is named after it)", s["Name"], bridge.ServiceName)
			}
			if s["Exec"] != prefix+"/bin/kapsuled" {
				t.Errorf("Exec=%s, want the installed %s/bin/kapsuled", s["Exec"], prefix)
			}
			if s["SystemdService"] != "kapsuled.service" {
				t.Errorf("SystemdService=%s, want kapsuled.service, the installed user unit", s["SystemdService"])
			}
		}},
		"usr/share/kapsule/kapsulerc": {mode: 0o644, same: filepath.Join(repo, "data", "kapsulerc")},
	}
	for _, c := range cmds {
		want["usr/bin/"+c] = file{mode: 0o755, same: filepath.Join(bin, c)}
	}
	xml, err := filepath.Glob(filepath.Join(repo, "dbus-interfaces", "*.xml"))
	if err != nil || len(xml) == 0 {
		t.Fatalf("no interface XML in dbus-interfaces/ (%v)", err)
	}
	for _, x := range xml {
		want["usr/share/dbus-1/interfaces/"+filepath.Base(x)] = file{mode: 0o644, same: x}
	}
	clis := append(slices.DeleteFunc(slices.Clone(cmds), func(c string) bool { return c == "kapsuled" }), "kapsule")
	for _, c := range clis {
		want["usr/share/bash-completion/completions/"+c] = file{mode: 0o644, check: completion("__start_" + c)}
		want["usr/share/zsh/site-functions/_"+c] = file{mode: 0o644, check: completion("#compdef " + c + "\n")}
		want["usr/share/fish/vendor_completions.d/"+c+".fish"] = file{mode: 0o644, check: completion("complete -c " + c + " ")}
	}

	checkTree(t, dest, want)
	t.Run("the bus reads the activation file", func(t *testing.T) {
		activatable(t, filepath.Join(dest, "usr/share/dbus-1/services/org.kde.kapsule.service"))
	})

	// Uninstall removes exactly our files: not a neighbour's, not a
	// shared directory; our own share/kapsule goes.
	foreign := []string{"usr/bin/other", "usr/share/dbus-1/services/org.example.Other.service",
		"usr/share/dbus-1/interfaces/org.example.Other.xml", "usr/share/bash-completion/completions/other"}
	for _, f := range foreign {
		if err := os.WriteFile(filepath.Join(dest, f), []byte("not ours\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runMake(t, "uninstall", bin, "DESTDIR="+dest, "PREFIX="+prefix)
	var left []string
	err = filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dest, p)
			left = append(left, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(left)
	slices.Sort(foreign)
	if !slices.Equal(left, foreign) {
		t.Errorf("after uninstall: %v, want only the foreign files %v", left, foreign)
	}
	if _, err := os.Stat(filepath.Join(dest, "usr/share/kapsule")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("usr/share/kapsule is still there after uninstall (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dest, "usr/share/dbus-1/services")); err != nil {
		t.Errorf("uninstall removed a shared directory: %v", err)
	}
}

// checkTree compares every file and symlink under root with want: none
// missing, none extra, modes and contents as described.
func checkTree(t *testing.T, root string, want map[string]file) {
	t.Helper()
	got := map[string]fs.FileInfo{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		got[rel] = fi
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for rel := range got {
		if _, ok := want[rel]; !ok {
			t.Errorf("installed, not expected: %s", rel)
		}
	}
	for _, rel := range slices.Sorted(maps.Keys(want)) {
		w := want[rel]
		fi, ok := got[rel]
		if !ok {
			t.Errorf("missing: %s", rel)
			continue
		}
		p := filepath.Join(root, rel)
		if w.mode == fs.ModeSymlink {
			link, err := os.Readlink(p)
			if fi.Mode()&fs.ModeSymlink == 0 || err != nil || link != w.link {
				t.Errorf("%s: %v -> %q (%v), want a symlink to %s", rel, fi.Mode(), link, err, w.link)
			}
			continue
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != w.mode {
			t.Errorf("%s: mode %v, want a regular file with %v", rel, fi.Mode(), w.mode)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Error(err)
			continue
		}
		if len(data) == 0 {
			t.Errorf("%s is empty", rel)
		}
		if w.same != "" {
			if src, err := os.ReadFile(w.same); err != nil || !bytes.Equal(data, src) {
				t.Errorf("%s differs from %s (%v)", rel, w.same, err)
			}
		}
		if w.want != "" && string(data) != w.want {
			t.Errorf("%s =\n%s\nwant\n%s", rel, data, w.want)
		}
		if w.check != nil {
			t.Run(rel, func(t *testing.T) { w.check(t, data) })
		}
	}
}

// completion checks a script names its command the way its shell needs.
func completion(marker string) func(*testing.T, []byte) {
	return func(t *testing.T, data []byte) {
		if !bytes.Contains(data, []byte(marker)) {
			t.Errorf("no %q in the completion script", marker)
		}
	}
}

// keyFile parses a systemd unit or D-Bus service file: group -> key ->
// value (the last one wins; enough for the keys checked here).
func keyFile(t *testing.T, data []byte) map[string]map[string]string {
	t.Helper()
	groups := map[string]map[string]string{}
	var group string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			group = line[1 : len(line)-1]
			groups[group] = map[string]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || group == "" {
				t.Fatalf("line %d: %q is not Key=Value in a [Group]", n, line)
			}
			groups[group][strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return groups
}

// activatable has a private session dbus-daemon read the activation file
// and checks it then lists the name as activatable: a file it rejects
// (bad group, no Exec, bad name) is only logged and never listed.
func activatable(t *testing.T, service string) {
	need(t, "dbus-daemon")
	bus := testbed.StartBus(t, false)
	data, err := os.ReadFile(service)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bus.ServicesDir, filepath.Base(service)), data, 0o644); err != nil {
		t.Fatal(err)
	}
	conn, err := dbus.Connect(bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.BusObject().Call("org.freedesktop.DBus.ReloadConfig", 0).Err; err != nil {
		t.Fatalf("ReloadConfig: %v", err)
	}
	var names []string
	if err := conn.BusObject().Call("org.freedesktop.DBus.ListActivatableNames", 0).Store(&names); err != nil {
		t.Fatalf("ListActivatableNames: %v", err)
	}
	if !slices.Contains(names, bridge.ServiceName) {
		t.Errorf("dbus-daemon does not list %s as activatable (it lists %v); it said:\n%s", bridge.ServiceName, names, bus.Output())
	}
}

// TestInstalledUnitVerifies installs for real into a temporary PREFIX (so
// ExecStart names a kapsuled that exists, as verify demands) and runs
// `systemd-analyze verify --user` on the installed unit. verify exits 0
// on unknown keys and bad values, only printing them, so any output fails.
func TestInstalledUnitVerifies(t *testing.T) {
	analyze := need(t, "systemd-analyze")
	tmp := t.TempDir()
	prefix := filepath.Join(tmp, "prefix")
	runMake(t, "install", filepath.Join(tmp, "bin"), "PREFIX="+prefix)
	unit := filepath.Join(prefix, "lib/systemd/user/kapsuled.service")
	data, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	if got := keyFile(t, data)["Service"]["ExecStart"]; got != filepath.Join(prefix, "bin/kapsuled") {
		t.Fatalf("ExecStart=%s, want %s/bin/kapsuled", got, prefix)
	}

	// The user manager's verify needs a runtime directory; there is no
	// user session here.
	run := filepath.Join(tmp, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, analyze, "verify", "--user", "--man=no", unit)
	cmd.Env = append(cleanEnv(), "XDG_RUNTIME_DIR="+run, "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=")
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("systemd-analyze verify --user %s: %v\n%s", unit, err, out)
	}
}
