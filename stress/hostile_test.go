//go:build stress

package stress

// Hostile input through kap, kapsule-update and the D-Bus API: names that
// try to escape into bus names, object paths or shell commands, wrong
// types, huge strings, unknown options. Each is refused with a clear
// error, nothing is created, and kapsuled keeps answering.

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"

	"invent.kde.org/kapsule/kapsule/bridge"
	interfaces "invent.kde.org/kapsule/kapsule/dbus-interfaces"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// maxErrorLen bounds an error message, whatever the input: a refusal
// quotes at most the start of what it refuses.
const maxErrorLen = 512

// hostileNames are container names that try to reach elsewhere: into a
// bus name (dots), an object path or a file path (slashes, dots), a shell
// (substitutions, separators), a command line (a leading dash), or past a
// length limit, and names that are merely not ASCII.
func hostileNames(pwned string) map[string]string {
	return map[string]string{
		"dot":             "a.b",
		"slash":           "a/b",
		"parent":          "../x",
		"dot-dot":         "..",
		"substitution":    "$(touch " + pwned + ")",
		"backticks":       "`touch " + pwned + "`",
		"separator":       "a;rm -rf ~",
		"and":             "a&&touch " + pwned,
		"dash":            "-rf",
		"space":           "a b",
		"newline":         "a\nb",
		"tab":             "a\tb",
		"64 characters":   strings.Repeat("a", 64),
		"100 KiB":         strings.Repeat("b", 100<<10),
		"unicode":         "ünïcödé",
		"fullwidth":       "ａｂｃ",
		"bus name":        "org.kde.kapsule",
		"underscore":      "a_b",
		"leading digit":   "1abc",
		"trailing dash":   "abc-",
		"empty":           "",
		"glob":            "*",
		"home":            "~",
		"percent":         "%s%n",
		"quote":           `a"b`,
		"object path":     "/org/kde/kapsule",
		"nul-free escape": `a\x00b`,
	}
}

// incusInstances lists every instance in every project.
func incusInstances(t *testing.T) []string {
	t.Helper()
	out := testbed.Incus(t, "list", "--all-projects", "--format", "csv", "--columns", "n")
	return strings.Fields(out)
}

// newInstances returns the instances in after that are not in before and
// were not made by a test (testbed.Name: kt-...).
func newInstances(before, after []string) []string {
	var out []string
	for _, n := range after {
		if !slices.Contains(before, n) && !strings.HasPrefix(n, "kt-") {
			out = append(out, n)
		}
	}
	return out
}

// sessionFiles lists the files under the session's own directories.
func sessionFiles(t *testing.T, s *testbed.UserSession) []string {
	t.Helper()
	var out []string
	for _, root := range []string{s.Config, s.State, s.Runtime} {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				out = append(out, p)
			}
			return nil
		})
	}
	slices.Sort(out)
	return out
}

// TestHostileNamesThroughTheCLIs gives every hostile name to every command
// of kap and kapsule-update that takes a container.
func TestHostileNamesThroughTheCLIs(t *testing.T) {
	t.Parallel()
	_, s := session(t, "")
	conn := s.Connect(t)
	pid := activate(t, s, conn)
	pwned := filepath.Join(os.TempDir(), "kapsule-pwned-"+testbed.Name("cli"))
	t.Cleanup(func() { os.Remove(pwned) })
	before := incusInstances(t)
	files := sessionFiles(t, s)
	commands := [][]string{
		{"kap", "create", "--", "%s"},
		{"kap", "start", "--", "%s"},
		{"kap", "stop", "--", "%s"},
		{"kap", "rm", "--force", "--", "%s"},
		{"kap", "reset", "--yes", "--", "%s"},
		{"kap", "info", "--", "%s"},
		{"kap", "run", "%s", "--", "true"},
		{"kapsule-update", "check", "--", "%s"},
		{"kapsule-update", "list", "--", "%s"},
		{"kapsule-update", "apply", "--yes", "--", "%s"},
		{"kapsule-update", "client", "%s", "--", "true"},
	}
	tried := 0
	for what, name := range hostileNames(pwned) {
		for _, c := range commands {
			args := make([]string, len(c)-1)
			for i, a := range c[1:] {
				args[i] = strings.ReplaceAll(a, "%s", name)
			}
			if name == "" && (c[1] == "run" || c[1] == "client") {
				continue // "" there means the default container
			}
			tried++
			r := s.Run(t, "", c[0], args...)
			label := fmt.Sprintf("%s %s (%s)", c[0], c[1], what)
			if r.Code == 0 {
				t.Errorf("%s: accepted: %q", label, r.Stdout)
				continue
			}
			msg := strings.TrimSpace(r.Stderr)
			switch {
			case msg == "":
				t.Errorf("%s: exit %d with nothing on stderr", label, r.Code)
			case len(msg) > maxErrorLen:
				t.Errorf("%s: exit %d with %d bytes on stderr: %.200q...", label, r.Code, len(msg), msg)
			case !strings.Contains(msg, "name") && !strings.Contains(msg, "flag"):
				t.Errorf("%s: exit %d, stderr %q does not say what is wrong with the name", label, r.Code, msg)
			}
		}
	}
	t.Logf("%d hostile names × %d commands: %d runs refused", len(hostileNames(pwned)), len(commands), tried)
	if _, err := os.Stat(pwned); err == nil {
		t.Errorf("a name ran a command: %s exists", pwned)
	}
	if extra := newInstances(before, incusInstances(t)); len(extra) > 0 {
		t.Errorf("instances created: %v", extra)
	}
	if after := sessionFiles(t, s); !slices.Equal(files, after) {
		t.Errorf("files of the session changed:\nbefore %v\nafter  %v", files, after)
	}
	if now := s.ServicePID(t, conn); now != pid {
		t.Errorf("kapsuled is pid %d after the hostile names, was %d", now, pid)
	}
}

// managerMethods reads the Manager's methods from its D-Bus contract.
func managerMethods(t *testing.T) []introspect.Method {
	t.Helper()
	var n introspect.Node
	if err := xml.Unmarshal([]byte(interfaces.Manager), &n); err != nil {
		t.Fatal(err)
	}
	for _, i := range n.Interfaces {
		if i.Name == bridge.ManagerInterface {
			return i.Methods
		}
	}
	t.Fatal("no Manager interface in the XML")
	return nil
}

// harmless is a valid value of a D-Bus type that changes nothing: names of
// no container, empty lists, false.
func harmless(sig string) any {
	switch sig {
	case "s":
		return "kt-no-such-container"
	case "b":
		return false
	case "as":
		return []string{}
	case "a{ss}":
		return map[string]string{}
	case "a{sv}":
		return map[string]dbus.Variant{}
	}
	panic("no harmless value for " + sig)
}

// wrong is a value of another type than sig.
func wrong(sig string) any {
	if sig == "s" {
		return int32(7)
	}
	return "x"
}

// TestWrongTypesToTheManager calls every method of the Manager with wrong
// argument types, too few and too many arguments: each call is refused
// (org.freedesktop.DBus.Error.InvalidArgs) and kapsuled keeps answering.
func TestWrongTypesToTheManager(t *testing.T) {
	t.Parallel()
	_, s := session(t, "")
	conn := s.Connect(t)
	pid := activate(t, s, conn)
	before := incusInstances(t)
	mgr := conn.Object(bridge.ServiceName, bridge.ManagerPath)
	calls := 0
	for _, m := range managerMethods(t) {
		var in []string
		for _, a := range m.Args {
			if a.Direction == "in" {
				in = append(in, a.Type)
			}
		}
		variants := map[string][]any{}
		if len(in) > 0 {
			var bad []any
			for _, sig := range in {
				bad = append(bad, wrong(sig))
			}
			variants["wrong types"] = bad
			variants["no arguments"] = nil
			if len(in) > 1 {
				variants["one argument short"] = bad[:len(in)-1]
			}
		}
		var extra []any
		for _, sig := range in {
			extra = append(extra, harmless(sig))
		}
		variants["one argument too many"] = append(extra, uint64(1))
		variants["a variant for everything"] = []any{dbus.MakeVariant(int32(1))}
		for what, args := range variants {
			calls++
			err := mgr.Call(bridge.ManagerInterface+"."+m.Name, 0, args...).Err
			if n := errName(err); n != "org.freedesktop.DBus.Error.InvalidArgs" {
				t.Errorf("%s with %s %v: %v (%s), want org.freedesktop.DBus.Error.InvalidArgs", m.Name, what, args, err, n)
			}
		}
	}
	var v dbus.Variant
	if err := mgr.Call(propsIface+".Get", 0, bridge.ManagerInterface, "Version").Store(&v); err != nil {
		t.Fatalf("kapsuled after %d bad calls: %v", calls, err)
	}
	t.Logf("%d calls with wrong arguments to %d methods refused", calls, len(managerMethods(t)))
	if now := s.ServicePID(t, conn); now != pid {
		t.Errorf("kapsuled is pid %d after the bad calls, was %d", now, pid)
	}
	if extra := newInstances(before, incusInstances(t)); len(extra) > 0 {
		t.Errorf("instances created: %v", extra)
	}
}

// TestHostileInputToTheManager sends hostile names, huge strings and
// unknown or mistyped options to the Manager's methods.
func TestHostileInputToTheManager(t *testing.T) {
	t.Parallel()
	_, s := session(t, "")
	conn := s.Connect(t)
	pid := activate(t, s, conn)
	pwned := filepath.Join(os.TempDir(), "kapsule-pwned-"+testbed.Name("dbus"))
	t.Cleanup(func() { os.Remove(pwned) })
	before := incusInstances(t)
	mgr := conn.Object(bridge.ServiceName, bridge.ManagerPath)
	documented := []string{bridge.ErrorInvalidArgument, bridge.ErrorNotFound}
	tried := 0
	check := func(label string, err error, want ...string) {
		t.Helper()
		tried++
		n := errName(err)
		switch {
		case err == nil:
			t.Errorf("%s: accepted", label)
		case !slices.Contains(want, n):
			t.Errorf("%s: %s: %.300s, want one of %v", label, n, err, want)
		case len(err.Error()) > maxErrorLen:
			t.Errorf("%s: a %d-byte error message: %.200s...", label, len(err.Error()), err)
		}
	}
	names := hostileNames(pwned)
	names["1 MiB"] = strings.Repeat("c", 1<<20)
	for what, name := range names {
		var p dbus.ObjectPath
		check("CreateContainer("+what+")", mgr.Call(bridge.ManagerInterface+".CreateContainer", 0, name, "", map[string]dbus.Variant{}).Store(&p), bridge.ErrorInvalidArgument)
		for _, m := range []struct {
			method string
			args   []any
		}{
			{"GetContainerInfo", []any{name}},
			{"GetContainerDetails", []any{name}},
			{"StartContainer", []any{name}},
			{"StopContainer", []any{name, true}},
			{"DeleteContainer", []any{name, true}},
			{"DeleteContainer", []any{name, false}},
			{"ResetContainer", []any{name}},
			{"PrepareExec", []any{name, []string{"true"}, "/", map[string]string{}}},
			{"ListUpdates", []any{name}},
			{"CheckUpdates", []any{[]string{name}}},
			{"ApplyUpdates", []any{name, []string{}}},
		} {
			check(fmt.Sprintf("%s(%s)", m.method, what), mgr.Call(bridge.ManagerInterface+"."+m.method, 0, m.args...).Err, documented...)
		}
		var enter bridge.EnterResult
		if err := mgr.Call(bridge.ManagerInterface+".PrepareEnter", 0, name, []string{"true"}, "/").Store(&enter); err != nil || enter.Success || enter.Error == "" || len(enter.Error) > maxErrorLen {
			t.Errorf("PrepareEnter(%s) = %+v (%d bytes of error), %v", what, enter.Success, len(enter.Error), err)
		}
		tried++
	}

	huge := strings.Repeat("x", 1<<20)
	valid := testbed.Name("hostile")
	testbed.CleanupContainer(t, valid)
	for what, tc := range map[string]struct {
		image string
		opts  map[string]dbus.Variant
	}{
		"1 MiB image":             {huge, nil},
		"image with a path":       {"../../etc/passwd", nil},
		"image from a server":     {"https://example.invalid/x:debian", nil},
		"1 MiB option name":       {"", map[string]dbus.Variant{huge: dbus.MakeVariant(true)}},
		"1 MiB option value":      {"", map[string]dbus.Variant{"memory": dbus.MakeVariant(huge)}},
		"unknown option":          {"", map[string]dbus.Variant{"gpus": dbus.MakeVariant(true)}},
		"wrongly typed option":    {"", map[string]dbus.Variant{"nesting": dbus.MakeVariant(int32(1))}},
		"option of a struct":      {"", map[string]dbus.Variant{"cpu": dbus.MakeVariant(struct{ A, B string }{"a", "b"})}},
		"shell in an option":      {"", map[string]dbus.Variant{"memory": dbus.MakeVariant("1GiB; touch " + pwned)}},
		"10,000 unknown options":  {"", manyOptions(10000)},
		"raw Incus configuration": {"", map[string]dbus.Variant{"raw.lxc": dbus.MakeVariant("lxc.apparmor.profile=unconfined")}},
	} {
		var p dbus.ObjectPath
		err := mgr.Call(bridge.ManagerInterface+".CreateContainer", 0, valid, tc.image, orEmpty(tc.opts)).Store(&p)
		if err == nil {
			// An image name is looked up in the operation.
			status, msg := waitOperation(t, conn, p)
			if status == bridge.StatusCompleted {
				t.Errorf("CreateContainer(%s): created", what)
			} else if len(msg) > maxErrorLen {
				t.Errorf("CreateContainer(%s): a %d-byte error message", what, len(msg))
			}
			tried++
			continue
		}
		check("CreateContainer("+what+")", err, bridge.ErrorInvalidArgument, bridge.ErrorNotFound, bridge.ErrorUnsupported)
	}
	if _, err := testbed.IncusErr("info", valid); err == nil {
		t.Errorf("%s was created", valid)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Errorf("an input ran a command: %s exists", pwned)
	}
	if extra := newInstances(before, incusInstances(t)); len(extra) > 0 {
		t.Errorf("instances created: %v", extra)
	}
	var v dbus.Variant
	if err := mgr.Call(propsIface+".Get", 0, bridge.ManagerInterface, "Version").Store(&v); err != nil {
		t.Fatalf("kapsuled after the hostile calls: %v", err)
	}
	if now := s.ServicePID(t, conn); now != pid {
		t.Errorf("kapsuled is pid %d after the hostile calls, was %d", now, pid)
	}
	t.Logf("%d hostile calls refused", tried)
}

func orEmpty(m map[string]dbus.Variant) map[string]dbus.Variant {
	if m == nil {
		return map[string]dbus.Variant{}
	}
	return m
}

func manyOptions(n int) map[string]dbus.Variant {
	m := make(map[string]dbus.Variant, n)
	for i := range n {
		m[fmt.Sprintf("option-%d", i)] = dbus.MakeVariant(true)
	}
	return m
}

// waitOperation follows an operation to its end and returns its Status
// and ErrorMessage.
func waitOperation(t *testing.T, conn *dbus.Conn, path dbus.ObjectPath) (string, string) {
	t.Helper()
	obj := conn.Object(bridge.ServiceName, path)
	var status, msg string
	eventually(t, "operation "+string(path)+" to end", func() bool {
		v, err := obj.GetProperty(bridge.OperationInterface + ".Status")
		if err != nil {
			t.Fatalf("operation %s: %v", path, err)
		}
		status = v.Value().(string)
		return status != bridge.StatusRunning
	})
	v, err := obj.GetProperty(bridge.OperationInterface + ".ErrorMessage")
	if err == nil {
		msg = v.Value().(string)
	}
	return status, msg
}
