package bridge

import (
	"context"
	"errors"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/lifecycle"
)

// D-Bus error names of org.kde.kapsule (documented in
// dbus-interfaces/org.kde.kapsule.Manager.xml).
const (
	ErrorNotFound         = "org.kde.kapsule.Error.NotFound"
	ErrorAlreadyExists    = "org.kde.kapsule.Error.AlreadyExists"
	ErrorInvalidArgument  = "org.kde.kapsule.Error.InvalidArgument"
	ErrorUnsupported      = "org.kde.kapsule.Error.Unsupported"
	ErrorRunning          = "org.kde.kapsule.Error.Running"
	ErrorPermissionDenied = "org.kde.kapsule.Error.PermissionDenied"
	ErrorUnavailable      = "org.kde.kapsule.Error.Unavailable"
	ErrorFailed           = "org.kde.kapsule.Error.Failed"
)

var errorNames = []struct {
	err  error
	name string
}{
	{lifecycle.ErrNotFound, ErrorNotFound},
	{lifecycle.ErrAlreadyExists, ErrorAlreadyExists},
	{lifecycle.ErrInvalidArgument, ErrorInvalidArgument},
	{lifecycle.ErrUnsupported, ErrorUnsupported},
	{lifecycle.ErrRunning, ErrorRunning},
	{lifecycle.ErrPermissionDenied, ErrorPermissionDenied},
	{lifecycle.ErrUnavailable, ErrorUnavailable},
}

// DBusError turns a Go error into a D-Bus error reply with its documented
// name; the message is the error's text.
func DBusError(err error) *dbus.Error {
	if err == nil {
		return nil
	}
	name := ErrorFailed
	for _, e := range errorNames {
		if errors.Is(err, e.err) {
			name = e.name
			break
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		name = ErrorFailed
	}
	return dbus.NewError(name, []any{err.Error()})
}

// ErrorFromDBus maps a D-Bus error from kapsuled back to the lifecycle
// sentinel (wrapped with the message), for clients.
func ErrorFromDBus(err error) error {
	var de dbus.Error
	if !errors.As(err, &de) {
		var dep *dbus.Error
		if !errors.As(err, &dep) || dep == nil {
			return err
		}
		de = *dep
	}
	msg := de.Error()
	for _, e := range errorNames {
		if de.Name == e.name {
			return &remoteError{msg: msg, sentinel: e.err}
		}
	}
	return &remoteError{msg: msg}
}

type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }
