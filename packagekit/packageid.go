package packagekit

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxStringLen is the daemon's limit for a string argument: PackageKit
// refuses strings of 1024 bytes or more.
const MaxStringLen = 1024

// PackageID identifies one version of one package for one architecture from
// one source: "name;version;arch;data", for example
// "kapsule-fixture;1.1;all;local". Exactly four ';'-separated fields; the
// name is not empty, the others may be ("web-development;;;meta" is a
// valid meta-package ID).
//
// The data field depends on the backend: a repository ID for available
// packages, "installed" or "installed:<repo>" for installed ones on most
// backends, "manual:<repo>" or "auto:<repo>" for installed ones on apt
// (apt's "+manual:<repo>"/"+auto:<repo>" mark a package about to be
// installed), "local" for a local file. Prefer the Info of the Package
// signal to Installed when both are at hand.
//
// A PackageID is the string PackageKit sends; IDs received from the daemon
// are kept verbatim. Use ParsePackageID or NewPackageID to build valid ones.
type PackageID string

// ParsePackageID checks s and returns it as a PackageID.
func ParsePackageID(s string) (PackageID, error) {
	id := PackageID(s)
	if err := id.Validate(); err != nil {
		return "", err
	}
	return id, nil
}

// NewPackageID builds the ID "name;version;arch;data" and checks it.
func NewPackageID(name, version, arch, data string) (PackageID, error) {
	for _, f := range [...]string{name, version, arch, data} {
		if strings.Contains(f, ";") {
			return "", fmt.Errorf("%w: field %q contains ';'", ErrInvalidPackageID, f)
		}
	}
	return ParsePackageID(name + ";" + version + ";" + arch + ";" + data)
}

// MustPackageID is ParsePackageID for IDs known to be valid (constants,
// tests); it panics on an invalid ID.
func MustPackageID(s string) PackageID {
	id, err := ParsePackageID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// Validate reports why id is not a valid package ID, with the daemon's rules
// (pk_package_id_check and the 1024-byte string limit) plus the D-Bus rule
// that strings hold no NUL byte.
func (id PackageID) Validate() error {
	s := string(id)
	switch {
	case len(s) >= MaxStringLen:
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidPackageID, len(s), MaxStringLen-1)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidPackageID, s)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("%w: %q contains a NUL byte", ErrInvalidPackageID, s)
	}
	if n := strings.Count(s, ";"); n != 3 {
		return fmt.Errorf("%w: %q has %d fields, want 4 (name;version;arch;data)", ErrInvalidPackageID, s, n+1)
	}
	if strings.HasPrefix(s, ";") {
		return fmt.Errorf("%w: %q has an empty name", ErrInvalidPackageID, s)
	}
	return nil
}

// String returns the ID as sent on the bus.
func (id PackageID) String() string { return string(id) }

// fields splits a valid ID; ok is false for an invalid one.
func (id PackageID) fields() (f [4]string, ok bool) {
	if id.Validate() != nil {
		return f, false
	}
	s := string(id)
	for i := range 3 {
		f[i], s, _ = strings.Cut(s, ";")
	}
	f[3] = s
	return f, true
}

func (id PackageID) field(i int) string {
	f, _ := id.fields()
	return f[i]
}

// Name returns the package name, or "" for an invalid ID.
func (id PackageID) Name() string { return id.field(0) }

// Version returns the version field, or "" for an invalid ID.
func (id PackageID) Version() string { return id.field(1) }

// Arch returns the architecture field, or "" for an invalid ID.
func (id PackageID) Arch() string { return id.field(2) }

// Data returns the data field (repository, "installed", ...), or "" for an
// invalid ID.
func (id PackageID) Data() string { return id.field(3) }

// Installed reports whether the data field marks an installed package:
// "installed" or "installed:<repo>" (most backends), "manual:<repo>" or
// "auto:<repo>" (apt).
func (id PackageID) Installed() bool {
	d := id.Data()
	return d == "installed" || strings.HasPrefix(d, "installed:") ||
		strings.HasPrefix(d, "manual:") || strings.HasPrefix(d, "auto:")
}

// packageIDStrings checks ids and converts them for a method call.
func packageIDStrings(ids []PackageID) ([]string, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: no package IDs", ErrInvalidInput)
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		if err := id.Validate(); err != nil {
			return nil, err
		}
		out[i] = string(id)
	}
	return out, nil
}
