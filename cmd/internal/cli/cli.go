// Package cli holds what Kapsule's command-line tools share: exit codes,
// the connection to kapsuled, and progress lines on stderr.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"invent.kde.org/kapsule/kapsule/bridge"
)

// Exit codes shared by kap and kapsule-update.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
	// ExitRunFailed is what `kap run` and `kap enter` return when kap
	// itself fails (as opposed to the command, whose status is passed
	// through), like podman and docker do.
	ExitRunFailed = 125
)

// ExitError carries a process exit status through error returns.
type ExitError struct {
	Code int
	Err  error // nil: nothing to print
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// UsageError marks a command line the tool cannot understand.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef builds a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// Code maps an error to the process exit status.
func Code(err error) int {
	var ee *ExitError
	var ue *UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &ue):
		return ExitUsage
	}
	return ExitFailure
}

// Connect opens a client to kapsuled on the session bus.
func Connect() (*bridge.Client, func(), error) {
	conn, err := bridge.DialSession()
	if err != nil {
		return nil, nil, err
	}
	return bridge.NewClient(conn), func() { conn.Close() }, nil
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
