//go:build e2e

package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// Under systemd (StandardError=journal: stderr is a stream to journald,
// named in JOURNAL_STREAM) kapsuled writes native journal entries whose
// fields carry the container, so `journalctl --user CONTAINER=dev` finds
// what happened to it; nothing goes to the stream as text.
func TestLogsGoToTheJournalWithContainerFields(t *testing.T) {
	bed := testbed.RequireUser(t)
	bed.RequireJournal(t)
	s := bed.NewSession(t, "[Containers]\nDefaultImage="+bed.Image+"\n")
	stream := "kapsule-test-" + strconv.FormatInt(time.Now().UnixNano(), 36) // the stream's identifier

	// What systemd does for the unit: connect stderr to journald's stream
	// socket (systemd-cat) and say so in JOURNAL_STREAM (device:inode).
	cmd := exec.Command("systemd-cat", "--identifier="+stream, "sh", "-c",
		`JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$0"`, filepath.Join(s.Bin, "kapsuled"))
	cmd.Env = s.Env()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	conn := busConn(t, s)
	waitOwned(t, conn, bridge.ServiceName, 15*time.Second)
	var pid uint32
	if err := conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixProcessID", 0, bridge.ServiceName).Store(&pid); err != nil {
		t.Fatal(err)
	}
	if int(pid) != cmd.Process.Pid {
		t.Fatalf("org.kde.kapsule is owned by pid %d, not the kapsuled started here (%d)", pid, cmd.Process.Pid)
	}

	c := testbed.Name("journal")
	testbed.CleanupContainer(t, c)
	s.Kap(t, "create", c, "--quiet")

	var created map[string]any
	for deadline := time.Now().Add(15 * time.Second); created == nil; {
		for _, e := range journalEntries(t, "_PID="+strconv.Itoa(int(pid)), "CONTAINER="+c) {
			if e["MESSAGE"] == "container created" {
				created = e
			}
		}
		if created == nil && time.Now().After(deadline) {
			t.Fatalf("no journal entry \"container created\" with CONTAINER=%s from kapsuled (pid %d)", c, pid)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for field, want := range map[string]string{
		"SYSLOG_IDENTIFIER": "kapsuled",
		"PRIORITY":          "6", // info
		"IMAGE":             bed.Image,
		"_UID":              strconv.Itoa(bed.UID),
	} {
		if got, _ := created[field].(string); got != want {
			t.Errorf("journal entry %s=%q, want %q (entry %v)", field, got, want, created)
		}
	}
	for _, e := range journalEntries(t, "SYSLOG_IDENTIFIER="+stream) {
		if msg, _ := e["MESSAGE"].(string); strings.Contains(msg, c) {
			t.Errorf("a text line about %s went to the journal stream: %q", c, msg)
		}
	}
}

// journalEntries reads the journal entries matching all the FIELD=VALUE
// matches, as the test user (group systemd-journal).
func journalEntries(t *testing.T, matches ...string) []map[string]any {
	t.Helper()
	out, err := exec.Command("journalctl", append([]string{"--no-pager", "-o", "json"}, matches...)...).Output()
	if err != nil {
		t.Fatalf("journalctl %v: %v", matches, err)
	}
	var entries []map[string]any
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err == nil {
			entries = append(entries, e)
		}
	}
	return entries
}
