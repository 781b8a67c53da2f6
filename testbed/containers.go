package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Name returns a fresh container name for a test: "kt-<prefix>-<random>",
// valid for Incus (letters, digits, dashes; at most 63 characters).
func Name(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	p := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, prefix)
	if len(p) > 40 {
		p = p[:40]
	}
	return "kt-" + strings.Trim(p, "-") + "-" + hex.EncodeToString(b[:])
}

// Incus runs the incus CLI (test set-up and checks only; Kapsule's own code
// speaks the REST API) and returns its trimmed stdout.
func Incus(t testing.TB, args ...string) string {
	t.Helper()
	out, err := IncusErr(args...)
	if err != nil {
		t.Fatalf("incus %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// IncusErr is Incus returning the error instead of failing the test.
// Incus 6.0 now and then fails to start a command in a container ("Failed
// to retrieve PID of executing child process", the command not run); like
// kap, the test bed runs such an exec again.
func IncusErr(args ...string) (string, error) {
	for attempt := 1; ; attempt++ {
		out, stderr, err := incusOnce(args)
		if err == nil {
			return out, nil
		}
		if attempt < 3 && len(args) > 0 && args[0] == "exec" && out == "" && strings.Contains(stderr, "Failed to retrieve PID") {
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
			continue
		}
		return "", fmt.Errorf("%w: %s", err, stderr)
	}
}

func incusOnce(args []string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "incus", args...)
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), strings.TrimSpace(errb.String()), err
}

// CleanupContainer deletes a container (with the incus CLI, forced) when
// the test ends, whatever the test or Kapsule did with it.
func CleanupContainer(t testing.TB, name string) { CleanupContainerIn(t, "", name) }

// CleanupContainerIn is CleanupContainer for a container of an Incus project (""
// = the CLI's current one). Incus now and then refuses a delete while it is
// busy with the instance: that is retried, and a container that could not
// be deleted is named in the test log.
func CleanupContainerIn(t testing.TB, project, name string) {
	t.Cleanup(func() {
		args := []string{"delete", "--force", name}
		if project != "" {
			args = append(args, "--project", project)
		}
		for attempt := 1; ; attempt++ {
			_, err := IncusErr(args...)
			if err == nil || strings.Contains(strings.ToLower(err.Error()), "not found") {
				return
			}
			if attempt == 3 {
				t.Logf("test container %s left behind: %v", name, err)
				return
			}
			time.Sleep(time.Second)
		}
	})
}

// Launch creates and starts a container from the test image, waits until
// its systemd is up, and deletes it when the test ends.
func (b *Bed) Launch(t testing.TB, prefix string, extra ...string) string {
	t.Helper()
	name := Name(prefix)
	args := append([]string{"launch", b.Image, name}, extra...)
	Incus(t, args...)
	CleanupContainer(t, name)
	WaitSystemd(t, name)
	return name
}

// WaitSystemd waits until systemd in the container has finished booting.
func WaitSystemd(t testing.TB, name string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _ := IncusErr("exec", name, "--", "systemctl", "is-system-running")
		switch out {
		case "running", "degraded":
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: systemd not up after 60 s (state %q)", name, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
