// Package testbed gives end-to-end tests the facts of Kapsule's test bed
// (see setup.sh): the unprivileged test user, its session bus, the Incus
// socket and the test image, plus helpers that create throw-away containers
// and private D-Bus daemons.
//
// Outside CI a test without a test bed is skipped with a hint; in CI
// (CI=true) a missing bed is a failure, so an end-to-end test never skips
// silently.
package testbed

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Bed describes the test bed written by testbed/user.sh.
type Bed struct {
	User        string
	UID, GID    int
	Home        string
	RuntimeDir  string
	SessionBus  string // address of the test user's own session bus
	Image       string // Incus alias of the test image
	IncusSocket string
}

// StateDir is where setup.sh writes its env file.
func StateDir() string {
	if d := os.Getenv("KAPSULE_TESTBED_STATE"); d != "" {
		return d
	}
	return "/var/lib/kapsule-testbed"
}

// Load reads the test bed's env file.
func Load() (*Bed, error) {
	f, err := os.Open(filepath.Join(StateDir(), "env"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			kv[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	uid, _ := strconv.Atoi(kv["KAPSULE_TESTBED_UID"])
	gid, _ := strconv.Atoi(kv["KAPSULE_TESTBED_GID"])
	return &Bed{
		User:        kv["KAPSULE_TESTBED_USER"],
		UID:         uid,
		GID:         gid,
		Home:        kv["KAPSULE_TESTBED_HOME"],
		RuntimeDir:  kv["KAPSULE_TESTBED_RUNTIME_DIR"],
		SessionBus:  kv["KAPSULE_TESTBED_SESSION_BUS"],
		Image:       kv["KAPSULE_TESTBED_IMAGE"],
		IncusSocket: kv["KAPSULE_TESTBED_INCUS_SOCKET"],
	}, nil
}

// InCI reports whether the tests run in CI, where skipping is a failure.
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "0" && v != "false"
}

// Require returns the test bed, or skips the test (fails it in CI) when
// there is none or it is unusable from this process.
func Require(t testing.TB) *Bed {
	t.Helper()
	b, err := Load()
	if err == nil {
		_, err = os.Stat(b.IncusSocket)
	}
	if err != nil {
		Unavailable(t, "no test bed (%v); run 'make testbed' as root, then run end-to-end tests with 'make test-e2e'", err)
	}
	return b
}

// RequireUser is Require for tests that must run as the unprivileged test
// user (the way a desktop session runs Kapsule); run them through
// testbed/as-user (make test-e2e does).
func RequireUser(t testing.TB) *Bed {
	t.Helper()
	b := Require(t)
	if os.Getuid() != b.UID {
		Unavailable(t, "this end-to-end test runs as the test user %s (uid %d), not uid %d; use 'make test-e2e'", b.User, b.UID, os.Getuid())
	}
	return b
}

// Unavailable skips the test with the reason, or fails it in CI.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("end-to-end test cannot run in CI: "+format, args...)
	}
	t.Skipf(format, args...)
}
