package systemd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/coreos/go-systemd/v22/journal"
)

// NewLogger returns the service's logger: structured journal entries when
// stderr is connected to the journal (JOURNAL_STREAM), readable text on
// stderr otherwise. Attributes become journal fields (container becomes
// CONTAINER=...), so `journalctl --user CONTAINER=dev` works.
func NewLogger(stderr io.Writer, level slog.Leveler) *slog.Logger {
	if ok, _ := journal.StderrIsJournalStream(); ok && journal.Enabled() {
		return slog.New(NewJournalHandler(level, journal.Send))
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

// SendFunc writes one journal entry (journal.Send in production).
type SendFunc func(message string, priority journal.Priority, vars map[string]string) error

// JournalHandler is a slog.Handler writing native journal entries.
type JournalHandler struct {
	level  slog.Leveler
	send   SendFunc
	prefix string
	attrs  map[string]string
	mu     *sync.Mutex
}

// NewJournalHandler returns a handler sending entries with send.
func NewJournalHandler(level slog.Leveler, send SendFunc) *JournalHandler {
	if level == nil {
		level = slog.LevelInfo
	}
	return &JournalHandler{level: level, send: send, attrs: map[string]string{}, mu: &sync.Mutex{}}
}

// Enabled implements slog.Handler.
func (h *JournalHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

// Handle implements slog.Handler.
func (h *JournalHandler) Handle(_ context.Context, r slog.Record) error {
	vars := make(map[string]string, len(h.attrs)+r.NumAttrs()+1)
	for k, v := range h.attrs {
		vars[k] = v
	}
	r.Attrs(func(a slog.Attr) bool {
		addAttr(vars, h.prefix, a)
		return true
	})
	vars["SYSLOG_IDENTIFIER"] = "kapsuled"
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.send(r.Message, priority(r.Level), vars)
}

// WithAttrs implements slog.Handler.
func (h *JournalHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = make(map[string]string, len(h.attrs)+len(attrs))
	for k, v := range h.attrs {
		n.attrs[k] = v
	}
	for _, a := range attrs {
		addAttr(n.attrs, h.prefix, a)
	}
	return &n
}

// WithGroup implements slog.Handler.
func (h *JournalHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.prefix = h.prefix + name + "_"
	return &n
}

func addAttr(vars map[string]string, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "_"
		}
		for _, g := range a.Value.Group() {
			addAttr(vars, p, g)
		}
		return
	}
	vars[FieldName(prefix+a.Key)] = fmt.Sprint(a.Value.Any())
}

// FieldName turns an attribute key into a journal field name: upper case
// letters, digits and '_', not starting with '_' or a digit.
func FieldName(key string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(key) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := strings.TrimLeft(b.String(), "_0123456789")
	if s == "" {
		s = "FIELD"
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

func priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	default:
		return journal.PriDebug
	}
}
