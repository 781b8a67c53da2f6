//go:build e2e

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"invent.kde.org/kapsule/kapsule/cmd/internal/cli"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// session starts a desktop session of the test user whose default image
// is the test image.
func session(t *testing.T, extra string) (*testbed.Bed, *testbed.Session) {
	t.Helper()
	bed := testbed.RequireUser(t)
	s := bed.NewSession(t, "[Containers]\nDefaultImage="+bed.Image+"\nDefaultContainer="+testbed.Name("default")+"\n"+extra)
	return bed, s
}

// create makes a container through kap and deletes it at the end.
func create(t *testing.T, s *testbed.Session, prefix string, args ...string) string {
	t.Helper()
	name := testbed.Name(prefix)
	testbed.CleanupContainer(t, name)
	s.Kap(t, append([]string{"create", name, "--quiet"}, args...)...)
	return name
}

func TestRunIsTheUserWithArgvStdioAndExitStatusExact(t *testing.T) {
	t.Parallel()
	bed, s := session(t, "")
	c := create(t, s, "run")

	tests := map[string]struct {
		stdin  string
		argv   []string
		stdout string
		stderr string
		code   int
	}{
		"same user name":          {argv: []string{"id", "-un"}, stdout: bed.User + "\n"},
		"same uid":                {argv: []string{"id", "-u"}, stdout: strconv.Itoa(bed.UID) + "\n"},
		"same gid":                {argv: []string{"id", "-g"}, stdout: strconv.Itoa(bed.GID) + "\n"},
		"cwd kept under the home": {argv: []string{"pwd"}, stdout: bed.Home + "\n"},
		"argv exact":              {argv: []string{"printf", `%s\n`, "a b", "c'd"}, stdout: "a b\nc'd\n"},
		"empty and odd args":      {argv: []string{"printf", `[%s]`, "", "$HOME", `"q"`, "*"}, stdout: `[][$HOME]["q"][*]`},
		"exit status":             {argv: []string{"sh", "-c", "exit 7"}, code: 7},
		"stderr apart":            {argv: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, stdout: "out\n", stderr: "err\n", code: 3},
		"stdin piped":             {stdin: "hello\nworld\n", argv: []string{"wc", "-l"}, stdout: "2\n"},
		"hostname is the name":    {argv: []string{"hostname"}, stdout: c + "\n"},
		"passwordless sudo":       {argv: []string{"sudo", "-n", "id", "-u"}, stdout: "0\n"},
		"konsole marker":          {argv: []string{"test", "-d", "/.kapsule"}},
		"command not found":       {argv: []string{"no-such-command-xyz"}, code: 127},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := s.Run(t, tc.stdin, "kap", append([]string{"run", c, "--"}, tc.argv...)...)
			if r.Code != tc.code {
				t.Errorf("exit status %d, want %d (stderr %q)", r.Code, tc.code, r.Stderr)
			}
			if tc.code != 127 && r.Stdout != tc.stdout {
				t.Errorf("stdout %q, want %q", r.Stdout, tc.stdout)
			}
			if tc.stderr != "" && r.Stderr != tc.stderr {
				t.Errorf("stderr %q, want %q", r.Stderr, tc.stderr)
			}
		})
	}
}

// The working directory comes along when the container has it: under the
// shared home as on the host, elsewhere as the container sees it, and the
// home otherwise. Commands behave the same from each.
func TestRunKeepsTheWorkingDirectoryTheContainerHas(t *testing.T) {
	t.Parallel()
	bed, s := session(t, "")
	c := create(t, s, "cwd")
	project := filepath.Join(bed.Home, "cwd-"+c)
	if err := os.Mkdir(project, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(project) })
	hostOnly := t.TempDir() // /tmp on the host; the container's /tmp lacks it
	s.Kap(t, "run", c, "--", "mkdir", "-p", "/tmp/in-both-"+c)
	inBoth := "/tmp/in-both-" + c
	if err := os.Mkdir(inBoth, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(inBoth) })

	for dir, want := range map[string]string{
		project:  project,  // shared: the host's view
		"/etc":   "/etc",   // not shared, in the container too
		inBoth:   inBoth,   // only created in the container by the user
		hostOnly: bed.Home, // not in the container: the home
	} {
		t.Run(dir, func(t *testing.T) {
			if r := s.RunIn(t, dir, "", "kap", "run", c, "--", "pwd"); r.Code != 0 || r.Stdout != want+"\n" {
				t.Errorf("pwd from %s: %q (exit %d, stderr %q), want %q", dir, r.Stdout, r.Code, r.Stderr, want)
			}
			r := s.RunIn(t, dir, "x\ny\n", "kap", "run", c, "--", "sh", "-c", `printf '[%s]' "$@"; wc -l; exit 7`, "sh", "a b", "", "c'd")
			if r.Code != 7 || r.Stdout != "[a b][][c'd]2\n" {
				t.Errorf("from %s: stdout %q exit %d (stderr %q), want argv exact, stdin read, exit 7", dir, r.Stdout, r.Code, r.Stderr)
			}
			if r := s.RunIn(t, dir, "", "kap", "run", c, "--", "no-such-command-xyz"); r.Code != 127 || !strings.Contains(r.Stderr, "no-such-command-xyz") {
				t.Errorf("missing command from %s: exit %d, stderr %q; want 127 naming it", dir, r.Code, r.Stderr)
			}
		})
	}
}

func TestHomeIsSharedBothWays(t *testing.T) {
	t.Parallel()
	bed, s := session(t, "")
	c := create(t, s, "home")
	file := filepath.Join(bed.Home, "from-container-"+c)
	t.Cleanup(func() { os.Remove(file) })
	s.Kap(t, "run", c, "--", "sh", "-c", "echo inside > "+file)
	b, err := os.ReadFile(file)
	if err != nil || string(b) != "inside\n" {
		t.Fatalf("host sees %q, %v", b, err)
	}
	fi, _ := os.Stat(file)
	if uid := statUID(fi); uid != bed.UID {
		t.Errorf("file written inside is owned by %d on the host, want %d", uid, bed.UID)
	}
	host := filepath.Join(bed.Home, "from-host-"+c)
	t.Cleanup(func() { os.Remove(host) })
	if err := os.WriteFile(host, []byte("outside\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := s.Kap(t, "run", c, "--", "cat", host); r.Stdout != "outside\n" {
		t.Errorf("container sees %q", r.Stdout)
	}
}

func TestListInfoAndJSON(t *testing.T) {
	t.Parallel()
	_, s := session(t, "")
	c := create(t, s, "list")
	var rows []map[string]string
	if err := json.Unmarshal([]byte(s.Kap(t, "list", "--json").Stdout), &rows); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rows {
		if r["name"] == c {
			found = true
			if r["status"] != "Running" || r["image"] == "" || r["created"] == "" {
				t.Errorf("row %v", r)
			}
		}
	}
	if !found {
		t.Fatalf("%s not in kap list --json: %v", c, rows)
	}
	if table := s.Kap(t, "list").Stdout; !strings.Contains(table, c) || !strings.HasPrefix(table, "NAME") {
		t.Errorf("table:\n%s", table)
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(s.Kap(t, "info", c, "--json").Stdout), &info); err != nil {
		t.Fatal(err)
	}
	// Incus 6.0 refuses host networking: the container says what it got.
	if info["networking"] != "profile" && info["networking"] != "host" {
		t.Errorf("networking = %v", info["networking"])
	}
	// Other Incus instances are not Kapsule's and stay invisible.
	other := testbed.Name("notmine")
	testbed.Incus(t, "init", s.Bed.Image, other)
	testbed.CleanupContainer(t, other)
	if strings.Contains(s.Kap(t, "list").Stdout, other) {
		t.Error("kap list shows an instance Kapsule does not manage")
	}
	r := s.Run(t, "", "kap", "rm", "--force", other)
	if r.Code == 0 || !strings.Contains(r.Stderr, "does not manage") {
		t.Errorf("kap rm of a foreign instance: exit %d, %q", r.Code, r.Stderr)
	}
	if _, err := testbed.IncusErr("info", other); err != nil {
		t.Errorf("foreign instance was touched: %v", err)
	}
	// Another user's Kapsule container is theirs: not listed, not touched.
	theirs := testbed.Name("theirs")
	testbed.Incus(t, "init", s.Bed.Image, theirs, "-c", "user.kapsule.managed=true", "-c", "user.kapsule.owner=4242")
	testbed.CleanupContainer(t, theirs)
	if strings.Contains(s.Kap(t, "list").Stdout, theirs) {
		t.Error("kap list shows another user's container")
	}
	if r := s.Run(t, "", "kap", "rm", "--force", theirs); r.Code == 0 || !strings.Contains(r.Stderr, "another user's") {
		t.Errorf("kap rm of another user's container: exit %d, %q", r.Code, r.Stderr)
	}
	if _, err := testbed.IncusErr("info", theirs); err != nil {
		t.Errorf("another user's container was touched: %v", err)
	}
}

func TestResetKeepsHostFilesAndReplaysOptions(t *testing.T) {
	t.Parallel()
	bed, s := session(t, "")
	mount, err := os.MkdirTemp(bed.Home, "kapsule-mount-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(mount) })
	c := create(t, s, "reset", "--cpu", "1", "--memory", "1GiB", "--no-gpu", "--mount", mount)
	homeSentinel := filepath.Join(bed.Home, "sentinel-"+c)
	mountSentinel := filepath.Join(mount, "sentinel")
	for _, p := range []string{homeSentinel, mountSentinel} {
		if err := os.WriteFile(p, []byte("keep me"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.Remove(homeSentinel) })
	s.Kap(t, "run", c, "--", "sudo", "touch", "/etc/only-inside")
	before := testbed.Incus(t, "config", "get", c, "user.kapsule.options")

	if r := s.Run(t, "", "kap", "reset", c); r.Code != 2 || !strings.Contains(r.Stderr, "--yes") {
		t.Fatalf("reset without --yes off a terminal: exit %d, %q", r.Code, r.Stderr)
	}
	s.Kap(t, "reset", c, "--yes")

	for _, p := range []string{homeSentinel, mountSentinel} {
		if b, err := os.ReadFile(p); err != nil || string(b) != "keep me" {
			t.Errorf("%s after reset: %q, %v", p, b, err)
		}
	}
	if r := s.Run(t, "", "kap", "run", c, "--", "test", "-e", "/etc/only-inside"); r.Code != 1 {
		t.Errorf("the container was not recreated (file inside survived, exit %d)", r.Code)
	}
	if after := testbed.Incus(t, "config", "get", c, "user.kapsule.options"); after != before {
		t.Errorf("options not replayed:\nbefore %s\nafter  %s", before, after)
	}
	for key, want := range map[string]string{"limits.cpu": "1", "limits.memory": "1GiB"} {
		if got := testbed.Incus(t, "config", "get", c, key); got != want {
			t.Errorf("%s = %q after reset, want %q", key, got, want)
		}
	}
	if r := s.Kap(t, "run", c, "--", "cat", mountSentinel); r.Stdout != "keep me" {
		t.Errorf("custom mount after reset: %q", r.Stdout)
	}
}

func TestRmRefusesARunningContainerAndKeepsTheHome(t *testing.T) {
	t.Parallel()
	bed, s := session(t, "")
	c := create(t, s, "rm")
	sentinel := filepath.Join(bed.Home, "sentinel-"+c)
	if err := os.WriteFile(sentinel, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(sentinel) })
	r := s.Run(t, "", "kap", "rm", c)
	if r.Code != 1 || !strings.Contains(r.Stderr, "--force") {
		t.Fatalf("rm of a running container: exit %d, %q", r.Code, r.Stderr)
	}
	s.Kap(t, "stop", c)
	s.Kap(t, "rm", c)
	if _, err := testbed.IncusErr("info", c); err == nil {
		t.Error("container still exists")
	}
	if b, err := os.ReadFile(sentinel); err != nil || string(b) != "keep" {
		t.Errorf("home sentinel after rm: %q, %v", b, err)
	}
	if _, err := os.Stat(bed.Home); err != nil {
		t.Errorf("home after rm: %v", err)
	}
}

func TestNestedPodman(t *testing.T) {
	t.Parallel()
	_, s := session(t, "")
	c := create(t, s, "podman")
	if r := s.Kap(t, "run", c, "--", "sudo", "podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"); strings.TrimSpace(r.Stdout) == "" {
		t.Fatalf("podman info: %q", r.Stdout)
	}
	script := `set -e
d=$(mktemp -d); mkdir -p $d/bin; cp /bin/busybox $d/bin/
tar -C $d -c . | sudo podman import -q - localhost/kapsule-nested >/dev/null
sudo podman run --rm --network none localhost/kapsule-nested /bin/busybox echo nested-ok`
	if r := s.Kap(t, "run", c, "--", "sh", "-c", script); !strings.Contains(r.Stdout, "nested-ok") {
		t.Errorf("nested container: %q", r.Stdout)
	}
}

func TestEnterOnATerminalTellsKonsole(t *testing.T) {
	t.Parallel()
	_, s := session(t, "")
	c := create(t, s, "osc")
	cmd := exec.Command(filepath.Join(s.Bin, "kap"), "enter", c)
	cmd.Env = s.Env()
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 101})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { defer close(done); _, _ = out.ReadFrom(ptmx) }()
	time.Sleep(1500 * time.Millisecond)
	_, _ = ptmx.Write([]byte("stty size; exit 5\n"))
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		var ee *exec.ExitError
		if err == nil || !errorsAs(err, &ee) || ee.ExitCode() != 5 {
			t.Errorf("kap enter exit: %v, want status 5", err)
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("kap enter did not end")
	}
	ptmx.Close()
	<-done
	got := out.String()
	push := "\x1b]777;container;push;" + c + ";kapsule\a"
	pop := "\x1b]777;container;pop;;\a"
	// The push comes before anything from inside the container (the
	// terminal may echo what was typed ahead, that is all).
	if i, j := strings.Index(got, push), strings.Index(got, "@"+c); i < 0 || j < 0 || i > j {
		t.Errorf("no OSC 777 push before the shell's first prompt: %q", got)
	}
	if !strings.HasSuffix(got, pop) {
		t.Errorf("output does not end with the OSC 777 pop: %q", got)
	}
	if !strings.Contains(got, "30 101") {
		t.Errorf("terminal size not passed: %q", got)
	}
	// Without a terminal: no escape sequences.
	if r := s.Kap(t, "run", c, "--", "true"); strings.Contains(r.Stdout, "\x1b]777") {
		t.Errorf("OSC 777 written to a pipe: %q", r.Stdout)
	}
}

func TestDefaultContainerIsCreatedOnFirstUse(t *testing.T) {
	t.Parallel()
	bed := testbed.RequireUser(t)
	def := testbed.Name("first")
	s := bed.NewSession(t, "[Containers]\nDefaultImage="+bed.Image+"\nDefaultContainer="+def+"\n")
	testbed.CleanupContainer(t, def)
	r := s.Run(t, "", "kap", "run", "--", "hostname")
	if r.Code != 0 || r.Stdout != def+"\n" {
		t.Fatalf("kap run -- hostname: exit %d, %q, %q", r.Code, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "Creating the default container "+def) {
		t.Errorf("no progress shown on stderr: %q", r.Stderr)
	}
	// The second time it exists: no creation.
	if r := s.Kap(t, "run", "--", "true"); strings.Contains(r.Stderr, "Creating") {
		t.Errorf("created again: %q", r.Stderr)
	}
}

func TestBadInputGivesOneLineErrorsAndChangesNothing(t *testing.T) {
	t.Parallel()
	bed, s := session(t, "")
	existing := create(t, s, "bad")
	tests := map[string]struct {
		args []string
		code int
		want string
	}{
		"invalid name":      {[]string{"create", "my.box"}, 1, `container name "my.box" contains '.'`},
		"name too long":     {[]string{"create", strings.Repeat("a", 64)}, 1, "64 characters long"},
		"unknown image":     {[]string{"create", testbed.Name("x"), "--image", "no-such-image"}, 1, `no local image alias "no-such-image"`},
		"unknown server":    {[]string{"create", testbed.Name("x"), "--image", "nowhere:debian/12"}, 1, `unknown image server "nowhere"`},
		"existing name":     {[]string{"create", existing}, 1, "exists; pick another name"},
		"bad cpu":           {[]string{"create", testbed.Name("x"), "--cpu", "lots"}, 1, `option "cpu"`},
		"unknown flag":      {[]string{"create", testbed.Name("x"), "--gpus"}, 2, "unknown flag: --gpus"},
		"contradicting":     {[]string{"create", testbed.Name("x"), "--gpu", "--no-gpu"}, 2, "contradict"},
		"missing container": {[]string{"start", "no-such-box"}, 1, `no container "no-such-box"`},
		"run without --":    {[]string{"run", existing, "id"}, 2, "put -- before the command"},
		"run missing":       {[]string{"run", "no-such-box", "--", "true"}, 125, `no container "no-such-box"`},
		"unknown command":   {[]string{"frobnicate"}, 2, "unknown command"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := s.Run(t, "", "kap", tc.args...)
			if r.Code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", r.Code, tc.code, r.Stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, tc.want) {
				t.Errorf("stderr %q does not end with a line containing %q", r.Stderr, tc.want)
			}
		})
	}
	// None of that created or changed a container.
	var rows []map[string]string
	if err := json.Unmarshal([]byte(s.Kap(t, "list", "--json").Stdout), &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if strings.HasPrefix(r["name"], "kt-x-") {
			t.Errorf("a failed create left %s behind", r["name"])
		}
	}
	_ = bed
}

func TestContainerDeletedBehindKapsulesBack(t *testing.T) {
	t.Parallel()
	_, s := session(t, "")
	c := create(t, s, "gone")
	s.Kap(t, "run", c, "--", "true") // warm: kapsuled caches what it knows
	testbed.Incus(t, "delete", "--force", c)
	// Incus's event reaches kapsuled; either way the answer must be clear.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := s.Run(t, "", "kap", "run", c, "--", "true")
		if r.Code == 125 && strings.Contains(r.Stderr, `no container "`+c+`"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kap run on a deleted container: exit %d, %q", r.Code, r.Stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if strings.Contains(s.Kap(t, "list").Stdout, c) {
		t.Error("deleted container still listed")
	}
}

// `kap version` names its own version and the service's, activating
// kapsuled to ask it.
func TestVersionNamesToolAndService(t *testing.T) {
	t.Parallel()
	_, s := session(t, "")
	r := s.Kap(t, "version")
	want := "kap: " + cli.Version + "\nkapsuled: " + cli.Version + "\n"
	if r.Stdout != want {
		t.Errorf("kap version: %q, want %q", r.Stdout, want)
	}
	if r := s.Kap(t, "--version"); r.Stdout != "kap version "+cli.Version+"\n" {
		t.Errorf("kap --version: %q", r.Stdout)
	}
	if r := s.Run(t, "", "kapsule-update", "version"); r.Code != 0 || r.Stdout != "kapsule-update: "+cli.Version+"\nkapsuled: "+cli.Version+"\n" {
		t.Errorf("kapsule-update version: exit %d, %q %q", r.Code, r.Stdout, r.Stderr)
	}
}
