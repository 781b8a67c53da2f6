package systemd

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/journal"
)

type entry struct {
	msg  string
	prio journal.Priority
	vars map[string]string
}

func TestJournalHandlerWritesFields(t *testing.T) {
	t.Parallel()
	var got []entry
	h := NewJournalHandler(slog.LevelDebug, func(m string, p journal.Priority, v map[string]string) error {
		got = append(got, entry{m, p, v})
		return nil
	})
	log := slog.New(h).With("container", "dev")
	log.Warn("check failed", "error", "no network", slog.Group("pk", "exit", 2))
	log.WithGroup("bridge").Debug("connected", "bus-name", "org.kde.kapsule.PackageKit.dev")
	if len(got) != 2 {
		t.Fatalf("%d entries", len(got))
	}
	e := got[0]
	if e.msg != "check failed" || e.prio != journal.PriWarning {
		t.Errorf("entry %+v", e)
	}
	for k, v := range map[string]string{"CONTAINER": "dev", "ERROR": "no network", "PK_EXIT": "2", "SYSLOG_IDENTIFIER": "kapsuled"} {
		if e.vars[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, e.vars[k], v, e.vars)
		}
	}
	if got[1].vars["BRIDGE_BUS_NAME"] != "org.kde.kapsule.PackageKit.dev" || got[1].prio != journal.PriDebug {
		t.Errorf("grouped entry %+v", got[1])
	}
}

func TestFieldName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"container": "CONTAINER", "bus-name": "BUS_NAME", "_x": "X", "9lives": "LIVES", "": "FIELD", "ü": "FIELD"} {
		if got := FieldName(in); got != want {
			t.Errorf("FieldName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewLoggerIsTextOutsideTheJournal(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	var buf bytes.Buffer
	NewLogger(&buf, slog.LevelInfo).Info("started", "container", "dev")
	if !strings.Contains(buf.String(), "msg=started container=dev") {
		t.Errorf("text log = %q", buf.String())
	}
}
