package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"invent.kde.org/kapsule/kapsule/bridge"
)

// Progress shows an operation's progress on w (stderr): on a terminal one
// line redrawn in place per step, elsewhere plain lines.
type Progress struct {
	w     io.Writer
	tty   bool
	quiet bool

	mu   sync.Mutex
	line string // what is drawn on the current terminal line
}

// NewProgress returns a progress display on w; quiet shows only warnings
// and errors.
func NewProgress(w io.Writer, quiet bool) *Progress {
	return &Progress{w: w, tty: IsTerminal(w), quiet: quiet}
}

// Events returns the callbacks to pass to bridge.Client.Start.
func (p *Progress) Events() bridge.Events {
	return bridge.Events{
		Message: func(kind int32, text string) {
			if p.quiet && kind != 2 && kind != 3 {
				return
			}
			prefix := ""
			switch kind {
			case 2:
				prefix = "warning: "
			case 3:
				prefix = "error: "
			case 5:
				prefix = "hint: "
			}
			p.println(prefix + text)
		},
		Started: func(id, description string, total int32) {
			if !p.quiet {
				p.status(description)
			}
		},
		Text: func(id, text string) {
			if !p.quiet {
				p.status(text)
			}
		},
		Completed: func(id string, ok bool, message string) {
			if p.quiet && ok {
				return
			}
			if message != "" {
				p.println(message)
			} else {
				p.clear()
			}
		},
	}
}

// status shows a transient line: redrawn on a terminal, printed once
// per distinct text elsewhere.
func (p *Progress) status(text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	text = strings.TrimSpace(text)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", text)
		p.line = text
		return
	}
	if text != p.line {
		fmt.Fprintln(p.w, text)
		p.line = text
	}
}

func (p *Progress) println(text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.line != "" {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintln(p.w, text)
	p.line = ""
}

func (p *Progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.line != "" {
		fmt.Fprint(p.w, "\r\033[K")
	}
	p.line = ""
}

// Done clears any transient line.
func (p *Progress) Done() { p.clear() }
