package packagekit

import (
	"errors"
	"testing"
)

func TestMethodErrorUnwrapsToSentinel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want error
	}{
		{"org.freedesktop.PackageKit.Transaction.PackageIdInvalid", ErrInvalidInput},
		{"org.freedesktop.PackageKit.Transaction.SearchInvalid", ErrInvalidInput},
		{"org.freedesktop.PackageKit.Transaction.NoSuchFile", ErrInvalidInput},
		{"org.freedesktop.PackageKit.Transaction.NumberOfPackagesInvalid", ErrInvalidInput},
		{"org.freedesktop.PackageKit.Transaction.NotSupported", ErrNotSupported},
		{"org.freedesktop.PackageKit.NotSupported", ErrNotSupported},
		{"org.freedesktop.PackageKit.Transaction.RefusedByPolicy", ErrDenied},
		{"org.freedesktop.PackageKit.Transaction.Denied", ErrDenied},
		{"org.freedesktop.PackageKit.Transaction.InvalidState", ErrInvalidState},
		{"org.freedesktop.PackageKit.Transaction.NotRunning", ErrInvalidState},
		{"org.freedesktop.PackageKit.Transaction.TransactionExistsWithRole", ErrInvalidState},
		{"org.freedesktop.DBus.Error.ServiceUnknown", ErrNoDaemon},
		{"org.freedesktop.DBus.Error.AccessDenied", ErrDenied},
		{"org.freedesktop.DBus.Error.NoReply", ErrDaemonVanished},
		{"org.freedesktop.DBus.Error.InvalidArgs", ErrInvalidInput},
		{"org.freedesktop.PackageKit.Transaction.CommitFailed", nil},
		{"org.example.Other.InputInvalid", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := &MethodError{Method: "InstallPackages", Path: "/1_abc", Name: tt.name, Message: "no"}
			if got := err.Unwrap(); got != tt.want {
				t.Errorf("Unwrap() = %v, want %v", got, tt.want)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.want)
			}
		})
	}
}

func TestTransactionError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		err       *TransactionError
		wantText  string
		cancelled bool
		denied    bool
	}{
		{
			name:     "package not found",
			err:      &TransactionError{Role: RoleInstallPackages, Exit: ExitFailed, Code: ErrorCodePackageNotFound, Details: "Could not find package(s)"},
			wantText: "packagekit install-packages: failed: package-not-found: Could not find package(s)",
		},
		{
			name:      "cancelled without error code",
			err:       &TransactionError{Role: RoleRefreshCache, Exit: ExitCancelled},
			wantText:  "packagekit refresh-cache: cancelled",
			cancelled: true,
		},
		{
			name:      "cancelled by a higher priority transaction",
			err:       &TransactionError{Role: RoleGetUpdates, Exit: ExitCancelledPriority},
			wantText:  "packagekit get-updates: cancelled-priority",
			cancelled: true,
		},
		{
			name:     "polkit refusal",
			err:      &TransactionError{Role: RoleUpdatePackages, Exit: ExitFailed, Code: ErrorCodeNotAuthorized, Details: "Failed to obtain authentication."},
			wantText: "packagekit update-packages: failed: not-authorized: Failed to obtain authentication.",
			denied:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.wantText {
				t.Errorf("Error() = %q, want %q", got, tt.wantText)
			}
			if errors.Is(tt.err, ErrCancelled) != tt.cancelled {
				t.Errorf("errors.Is(ErrCancelled) = %t, want %t", !tt.cancelled, tt.cancelled)
			}
			if errors.Is(tt.err, ErrDenied) != tt.denied {
				t.Errorf("errors.Is(ErrDenied) = %t, want %t", !tt.denied, tt.denied)
			}
		})
	}
}
