package incus

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors. Match them with errors.Is; *Error values from Incus
// match the first four by their HTTP status code.
var (
	ErrNotFound           = errors.New("not found")           // 404
	ErrAlreadyExists      = errors.New("already exists")      // 409
	ErrForbidden          = errors.New("forbidden")           // 403
	ErrPreconditionFailed = errors.New("precondition failed") // 412: the ETag no longer matches

	// ErrUnavailable: Incus cannot be reached (no socket, nothing
	// listening, host unreachable).
	ErrUnavailable = errors.New("incus unavailable")
	// ErrPermission: the socket exists but this user may not open it.
	ErrPermission = errors.New("permission denied")
	// ErrDisconnected: an established connection (events, exec) broke,
	// e.g. because incusd restarted. Reconnect and re-list.
	ErrDisconnected = errors.New("connection to incus lost")
	// ErrTimeout: an operation did not finish within the wait timeout;
	// it is still running.
	ErrTimeout = errors.New("operation still running after the wait timeout")
	// ErrCanceled: an operation was cancelled.
	ErrCanceled = errors.New("operation cancelled")
)

// Error is an error reported by Incus: the HTTP status code of the
// response (or the error_code of its error envelope) and its message.
type Error struct {
	StatusCode int
	Message    string
}

func (e *Error) Error() string {
	text := http.StatusText(e.StatusCode)
	switch {
	case e.Message == "" && text == "":
		return fmt.Sprintf("status %d", e.StatusCode)
	case e.Message == "" || strings.EqualFold(e.Message, text): // "Not Found"
		return strings.ToLower(text)
	}
	return lowerFirst(e.Message)
}

// Is makes errors.Is(err, ErrNotFound) and its siblings work.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrAlreadyExists:
		return e.StatusCode == http.StatusConflict
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrPreconditionFailed:
		return e.StatusCode == http.StatusPreconditionFailed
	}
	return false
}

// lowerFirst lower-cases Incus's capitalised messages ("Instance not
// found") but leaves acronyms ("ETag doesn't match") alone.
func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || !unicode.IsUpper(r) {
		return s
	}
	if r2, _ := utf8.DecodeRuneInString(s[n:]); unicode.IsUpper(r2) {
		return s
	}
	return string(unicode.ToLower(r)) + s[n:]
}

// connError is a failure to reach Incus, phrased for the user. It matches
// its kind (ErrUnavailable, ErrPermission) and the underlying error.
type connError struct {
	kind error
	msg  string
	err  error
}

func (e *connError) Error() string   { return e.msg }
func (e *connError) Unwrap() []error { return []error{e.kind, e.err} }

func unixDialError(path string, err error) error {
	switch {
	case errors.Is(err, syscall.ENOENT):
		return &connError{ErrUnavailable, fmt.Sprintf(
			`Incus is not running (no socket at %s): start incus, e.g. "systemctl start incus.socket"`, path), err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &connError{ErrUnavailable, fmt.Sprintf(
			`Incus is not running (nothing listens on %s): start incus, e.g. "systemctl start incus.socket"`, path), err}
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		hint := "add your user to the incus-admin group, or use the incus-user socket"
		if filepath.Base(path) == "unix.socket.user" {
			hint = "add your user to the incus group"
		}
		return &connError{ErrPermission, fmt.Sprintf("permission denied on %s: %s", path, hint), err}
	}
	return &connError{ErrUnavailable, fmt.Sprintf("cannot reach Incus on %s: %v", path, err), err}
}

func remoteDialError(base string, err error) error {
	return &connError{ErrUnavailable, fmt.Sprintf("cannot reach Incus at %s: %v", base, err), err}
}
