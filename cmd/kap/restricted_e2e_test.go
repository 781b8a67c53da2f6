//go:build e2e

package main

// The restricted path: a desktop user in group incus but not incus-admin,
// whom Incus serves only through incus-user's socket and per-user project
// (user-<uid>: no privileged containers, no disks outside the home, no
// raw.lxc, no proxy devices). make test-e2e runs these tests as the test
// bed's restricted user (testbed/as-user with TESTBED_AS=restricted), and
// only these: their names start with TestRestricted.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"invent.kde.org/kapsule/kapsule/testbed"
)

// restrictedSession is session for the restricted test user.
func restrictedSession(t *testing.T) (*testbed.Bed, *testbed.Session) {
	t.Helper()
	bed := testbed.RequireRestrictedUser(t)
	s := bed.NewSession(t, "[Containers]\nDefaultImage="+bed.Image+"\nDefaultContainer="+testbed.Name("default")+"\n")
	return bed, s
}

func TestRestrictedCreateRunHomeAndRm(t *testing.T) {
	t.Parallel()
	bed, s := restrictedSession(t)
	name := testbed.Name("restricted")
	testbed.CleanupContainer(t, name)

	// No options: the defaults on this project leave out what it forbids,
	// so the create succeeds without asking anything of the user.
	r := s.Kap(t, "create", name)
	if strings.Contains(r.Stderr, "not supported") || strings.Contains(r.Stderr, "error") {
		t.Errorf("create with defaults said: %s", r.Stderr)
	}

	var info map[string]any
	if err := json.Unmarshal([]byte(s.Kap(t, "info", name, "--json").Stdout), &info); err != nil {
		t.Fatal(err)
	}
	// kapsuled reached Incus through incus-user: the container lives in
	// the user's project, which only that socket leads to for this user.
	if info["project"] != bed.Project {
		t.Errorf("project %v, want %s (kapsuled should use the incus-user socket)", info["project"], bed.Project)
	}
	if info["networking"] != "profile" {
		t.Errorf("networking %v, want profile (the project forbids raw.lxc)", info["networking"])
	}
	opts, _ := info["options"].(map[string]any)
	for _, off := range []string{"privileged", "host_rootfs", "host_network", "wayland", "x11", "pipewire", "pulseaudio", "session_bus"} {
		if opts[off] != false {
			t.Errorf("default option %s = %v on a restricted project, want false", off, opts[off])
		}
	}
	if opts["mount_home"] != true {
		t.Errorf("default option mount_home = %v, want true", opts["mount_home"])
	}

	// The same user inside, with the same ids.
	if r := s.Kap(t, "run", name, "--", "id", "-un"); r.Stdout != bed.User+"\n" {
		t.Errorf("id -un printed %q, want %q", r.Stdout, bed.User)
	}
	if r := s.Kap(t, "run", name, "--", "id", "-u"); r.Stdout != strconv.Itoa(bed.UID)+"\n" {
		t.Errorf("id -u printed %q, want %d", r.Stdout, bed.UID)
	}

	// The home is shared both ways, with its owner (the project's profile
	// maps the user's uid and gid).
	inside := filepath.Join(bed.Home, "from-container-"+name)
	t.Cleanup(func() { os.Remove(inside) })
	s.Kap(t, "run", name, "--", "sh", "-c", "echo inside > "+inside)
	if b, err := os.ReadFile(inside); err != nil || string(b) != "inside\n" {
		t.Fatalf("host sees %q, %v", b, err)
	}
	if fi, err := os.Stat(inside); err != nil {
		t.Error(err)
	} else if uid := statUID(fi); uid != bed.UID {
		t.Errorf("file written inside is owned by uid %d on the host, want %d", uid, bed.UID)
	}
	outside := filepath.Join(bed.Home, "from-host-"+name)
	t.Cleanup(func() { os.Remove(outside) })
	if err := os.WriteFile(outside, []byte("outside\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := s.Kap(t, "run", name, "--", "stat", "-c", "%U %s", outside); r.Stdout != bed.User+" 8\n" {
		t.Errorf("inside, the host's file shows as %q, want %q", r.Stdout, bed.User+" 8\n")
	}

	s.Kap(t, "stop", name)
	s.Kap(t, "rm", name)
	if _, err := testbed.IncusErr("info", name); err == nil {
		t.Errorf("%s still exists after kap rm", name)
	}
	if b, err := os.ReadFile(outside); err != nil || string(b) != "outside\n" {
		t.Errorf("home file after kap rm: %q, %v", b, err)
	}
}

func TestRestrictedRefusesWhatTheProjectForbids(t *testing.T) {
	t.Parallel()
	bed, s := restrictedSession(t)
	tests := map[string]struct {
		args   []string
		option string
		reason string
	}{
		"privileged":            {[]string{"--privileged"}, `option "privileged"`, "privileged containers are not allowed"},
		"host rootfs":           {[]string{"--host-rootfs"}, `option "host_rootfs"`, "disks outside your home directory are not allowed"},
		"mount outside home":    {[]string{"--mount", "/srv"}, `option "custom_mounts"`, "/srv is outside your home directory " + bed.Home},
		"host network":          {[]string{"--host-network"}, `option "host_network"`, "raw.lxc (host networking) is not allowed"},
		"wayland (runtime dir)": {[]string{"--wayland"}, `option "wayland"`, "the runtime directory " + bed.RuntimeDir + " is outside your home directory"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := testbed.Name("refused")
			testbed.CleanupContainer(t, c)
			r := s.Run(t, "", "kap", append([]string{"create", c}, tc.args...)...)
			if r.Code != 1 {
				t.Errorf("exit %d, want 1", r.Code)
			}
			// One line that names the option, says why, and says what to do.
			msg := strings.TrimSpace(r.Stderr)
			if strings.Contains(msg, "\n") {
				t.Errorf("more than one line on stderr:\n%s", r.Stderr)
			}
			for _, want := range []string{tc.option, tc.reason, "incus-admin"} {
				if !strings.Contains(msg, want) {
					t.Errorf("stderr %q does not contain %q", msg, want)
				}
			}
			// Refused up front: nothing was created.
			if _, err := testbed.IncusErr("info", c); err == nil {
				t.Errorf("a refused create left %s behind", c)
			}
		})
	}
}
