// Package testbed gives end-to-end tests the facts of Kapsule's test bed
// (see setup.sh): the unprivileged test user, its session bus, the Incus
// socket and the test image, the same for the restricted test user who
// reaches Incus through incus-user, plus helpers that create throw-away
// containers and private D-Bus daemons.
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

// Bed describes the test bed written by testbed/user.sh and
// testbed/incus-user.sh, as one of its users sees it.
type Bed struct {
	User        string
	UID, GID    int
	Home        string
	RuntimeDir  string
	SessionBus  string // address of the test user's own session bus
	Image       string // Incus alias of the test image (in Project)
	IncusSocket string
	Project     string // the Incus project the user works in ("" = default)
	Journal     string // journald's native socket (testbed/journald.sh)

	// Restricted is the bed as the restricted test user sees it: a member
	// of group incus but not incus-admin, whom Incus serves through
	// incus-user's socket and per-user project. nil when the bed has none.
	Restricted *Bed
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
	b := bedOf(kv, "KAPSULE_TESTBED_")
	if kv["KAPSULE_TESTBED_RESTRICTED_USER"] != "" {
		b.Restricted = bedOf(kv, "KAPSULE_TESTBED_RESTRICTED_")
		b.Restricted.Image = b.Image
	}
	return b, nil
}

// bedOf reads one user's facts: the keys PREFIX+USER, PREFIX+UID, ...
func bedOf(kv map[string]string, prefix string) *Bed {
	uid, _ := strconv.Atoi(kv[prefix+"UID"])
	gid, _ := strconv.Atoi(kv[prefix+"GID"])
	return &Bed{
		User:        kv[prefix+"USER"],
		UID:         uid,
		GID:         gid,
		Home:        kv[prefix+"HOME"],
		RuntimeDir:  kv[prefix+"RUNTIME_DIR"],
		SessionBus:  kv[prefix+"SESSION_BUS"],
		Image:       kv[prefix+"IMAGE"],
		IncusSocket: kv[prefix+"INCUS_SOCKET"],
		Project:     kv[prefix+"PROJECT"],
		Journal:     kv["KAPSULE_TESTBED_JOURNAL"],
	}
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

// RequireRestrictedUser is RequireUser for the restricted test user: it
// returns the bed as that user sees it (NewSession on it gives that
// user's desktop session). Run these tests through testbed/as-user with
// TESTBED_AS=restricted (make test-e2e does).
func RequireRestrictedUser(t testing.TB) *Bed {
	t.Helper()
	b := Require(t)
	r := b.Restricted
	if r == nil {
		Unavailable(t, "the test bed has no restricted user (testbed/incus-user.sh); run 'make testbed' as root")
	}
	if _, err := os.Stat(r.IncusSocket); err != nil {
		Unavailable(t, "incus-user is not running (%v); run 'make testbed' as root", err)
	}
	if os.Getuid() != r.UID {
		Unavailable(t, "this end-to-end test runs as the restricted test user %s (uid %d), not uid %d; use 'make test-e2e'", r.User, r.UID, os.Getuid())
	}
	return r
}

// RequireJournal returns the journald socket the test bed started, or
// skips the test (fails it in CI).
func (b *Bed) RequireJournal(t testing.TB) string {
	t.Helper()
	if b.Journal == "" {
		Unavailable(t, "the test bed has no journald (testbed/journald.sh); run 'make testbed' as root")
	}
	if _, err := os.Stat(b.Journal); err != nil {
		Unavailable(t, "journald is not running (%v); run 'make testbed' as root", err)
	}
	return b.Journal
}

// Unavailable skips the test with the reason, or fails it in CI.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("end-to-end test cannot run in CI: "+format, args...)
	}
	t.Skipf(format, args...)
}
