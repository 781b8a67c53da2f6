package lifecycle

import "errors"

// Sentinel errors of the container life cycle. The session service maps
// them to org.kde.kapsule.Error.* names; messages wrapping them say what to
// do.
var (
	ErrNotFound         = errors.New("not found")
	ErrAlreadyExists    = errors.New("already exists")
	ErrInvalidArgument  = errors.New("invalid argument")
	ErrUnsupported      = errors.New("not supported")
	ErrRunning          = errors.New("container is running")
	ErrPermissionDenied = errors.New("permission denied")
	ErrUnavailable      = errors.New("incus unavailable")
)
