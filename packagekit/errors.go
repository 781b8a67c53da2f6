package packagekit

import (
	"errors"
	"fmt"
	"strings"

	"github.com/godbus/dbus/v5"
)

// Sentinel errors. Errors returned by this package wrap them; test with
// errors.Is.
var (
	// ErrUnknownValue: a string is not the name of a value of the enum.
	ErrUnknownValue = errors.New("unknown value")
	// ErrInvalidPackageID: a package ID breaks PackageKit's rules.
	ErrInvalidPackageID = errors.New("invalid package id")
	// ErrInvalidInput: an argument is refused, by this package before the
	// call or by the daemon (PackageIdInvalid, SearchInvalid, InputInvalid,
	// FilterInvalid, NoSuchFile, ...).
	ErrInvalidInput = errors.New("invalid input")
	// ErrNotSupported: the backend does not implement the action.
	ErrNotSupported = errors.New("not supported by the PackageKit backend")
	// ErrDenied: PackageKit or polkit refused the caller.
	ErrDenied = errors.New("denied")
	// ErrInvalidState: the call does not fit the transaction's state (a
	// second action, Cancel of a finished transaction, ...).
	ErrInvalidState = errors.New("invalid transaction state")
	// ErrNoDaemon: nothing owns the destination name and it cannot be
	// activated.
	ErrNoDaemon = errors.New("PackageKit is not available")
	// ErrDaemonVanished: the daemon left the bus (crash, restart, idle exit)
	// while a transaction was running, or without answering a call.
	ErrDaemonVanished = errors.New("PackageKit daemon disappeared")
	// ErrDisconnected: the D-Bus connection is closed (for a container: the
	// bridge into it ended).
	ErrDisconnected = errors.New("D-Bus connection closed")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("packagekit client closed")
	// ErrDestroyed: the daemon dropped the transaction before it finished.
	ErrDestroyed = errors.New("transaction destroyed before it finished")
	// ErrCancelled: the transaction was cancelled (TransactionError with an
	// Exit of cancelled).
	ErrCancelled = errors.New("transaction cancelled")
)

// TransactionError is a transaction that finished without success: the exit
// code of its Finished signal and, when PackageKit sent one, its ErrorCode.
type TransactionError struct {
	Path    dbus.ObjectPath
	Role    Role
	Exit    Exit
	Code    ErrorCode // ErrorCodeUnknown when no ErrorCode signal came
	Details string    // the text of the ErrorCode signal
}

// Error says which action failed, how, and why, e.g. "packagekit
// install-packages: failed: package-not-found: Could not find package(s)".
func (e *TransactionError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "packagekit %s: %s", e.Role, e.Exit)
	if e.Code != ErrorCodeUnknown || e.Details != "" {
		fmt.Fprintf(&sb, ": %s", e.Code)
	}
	if e.Details != "" {
		fmt.Fprintf(&sb, ": %s", e.Details)
	}
	return sb.String()
}

// Is makes errors.Is(err, ErrCancelled) true for a cancelled transaction and
// errors.Is(err, ErrDenied) true for a polkit refusal.
func (e *TransactionError) Is(target error) bool {
	switch target {
	case ErrCancelled:
		return e.Exit == ExitCancelled || e.Exit == ExitCancelledPriority ||
			e.Code == ErrorCodeTransactionCancelled
	case ErrDenied:
		return e.Code == ErrorCodeNotAuthorized
	case ErrNotSupported:
		return e.Code == ErrorCodeNotSupported
	}
	return false
}

// MethodError is a D-Bus error reply to a PackageKit method call, for example
// org.freedesktop.PackageKit.Transaction.PackageIdInvalid.
type MethodError struct {
	Method  string // e.g. "InstallPackages"
	Path    dbus.ObjectPath
	Name    string // D-Bus error name
	Message string
}

// Error names the method, the object, the D-Bus error and its message.
func (e *MethodError) Error() string {
	return fmt.Sprintf("packagekit %s on %s: %s: %s", e.Method, e.Path, e.Name, e.Message)
}

// Unwrap returns the sentinel error for the D-Bus error name, if any.
func (e *MethodError) Unwrap() error {
	_, short, _ := cutLast(e.Name, ".")
	switch {
	case e.Name == "org.freedesktop.DBus.Error.ServiceUnknown",
		e.Name == "org.freedesktop.DBus.Error.NameHasNoOwner",
		e.Name == "org.freedesktop.DBus.Error.Spawn.ServiceNotFound",
		e.Name == "org.freedesktop.DBus.Error.Spawn.ChildExited":
		return ErrNoDaemon
	case e.Name == "org.freedesktop.DBus.Error.NoReply":
		return ErrDaemonVanished // it left the bus (or hung) without answering
	case e.Name == "org.freedesktop.DBus.Error.AccessDenied":
		return ErrDenied
	case e.Name == "org.freedesktop.DBus.Error.InvalidArgs":
		return ErrInvalidInput
	case !strings.HasPrefix(e.Name, "org.freedesktop.PackageKit."):
		return nil
	}
	switch short {
	case "Denied", "RefusedByPolicy", "CannotCheckAuth":
		return ErrDenied
	case "NotSupported", "MimeTypeNotSupported":
		return ErrNotSupported
	case "NotRunning", "NoRole", "InvalidState", "TransactionExistsWithRole", "CannotCancel":
		return ErrInvalidState
	case "PackageIdInvalid", "SearchInvalid", "PathInvalid", "FilterInvalid", "InputInvalid",
		"InvalidProvide", "PackInvalid", "NumberOfPackagesInvalid", "NoSuchFile", "NoSuchDirectory":
		return ErrInvalidInput
	}
	return nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// callError turns the error of a method call into an error that names the
// method: a *MethodError for a D-Bus error reply, ErrDisconnected when the
// connection is gone, else the error wrapped.
func callError(conn *dbus.Conn, method string, path dbus.ObjectPath, err error) error {
	var de dbus.Error
	var dep *dbus.Error
	switch {
	case errors.As(err, &de):
		return &MethodError{Method: method, Path: path, Name: de.Name, Message: de.Error()}
	case errors.As(err, &dep):
		return &MethodError{Method: method, Path: path, Name: dep.Name, Message: dep.Error()}
	case errors.Is(err, dbus.ErrClosed), !conn.Connected():
		return fmt.Errorf("packagekit %s on %s: %w (%v)", method, path, ErrDisconnected, err)
	}
	return fmt.Errorf("packagekit %s on %s: %w", method, path, err)
}
