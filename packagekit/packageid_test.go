package packagekit

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePackageID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                       string
		in                         string
		wantName, wantVer, wantArc string
		wantData                   string
		wantInstalled              bool
	}{
		{"available from a repository", "kapsule-fixture;1.1;all;local", "kapsule-fixture", "1.1", "all", "local", false},
		{"installed, apt manual", "kapsule-fixture;1.0;all;manual:local", "kapsule-fixture", "1.0", "all", "manual:local", true},
		{"installed, apt automatic", "libc6;2.36-9;amd64;auto:debian-bookworm-main", "libc6", "2.36-9", "amd64", "auto:debian-bookworm-main", true},
		{"apt marking a pending install", "kapsule-fixture-extra;1.0;all;+manual:local", "kapsule-fixture-extra", "1.0", "all", "+manual:local", false},
		{"installed, generic", "bash;5.2;x86_64;installed", "bash", "5.2", "x86_64", "installed", true},
		{"installed, dnf with repo", "bash;5.2-1.fc40;x86_64;installed:fedora", "bash", "5.2-1.fc40", "x86_64", "installed:fedora", true},
		{"meta package with empty fields", "web-development;;;meta", "web-development", "", "", "meta", false},
		{"all optional fields empty", "x;;;", "x", "", "", "", false},
		{"non-ASCII name", "größe;1;all;repo", "größe", "1", "all", "repo", false},
		{"epoch with colon", "vim;2:9.0.1378-2;amd64;debian", "vim", "2:9.0.1378-2", "amd64", "debian", false},
		{"just under the length limit", strings.Repeat("n", MaxStringLen-4) + ";;;", strings.Repeat("n", MaxStringLen-4), "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := ParsePackageID(tt.in)
			if err != nil {
				t.Fatalf("ParsePackageID(%q): %v", tt.in, err)
			}
			if id.String() != tt.in {
				t.Errorf("String() = %q, want %q", id, tt.in)
			}
			got := [...]string{id.Name(), id.Version(), id.Arch(), id.Data()}
			want := [...]string{tt.wantName, tt.wantVer, tt.wantArc, tt.wantData}
			if got != want {
				t.Errorf("fields = %q, want %q", got, want)
			}
			if id.Installed() != tt.wantInstalled {
				t.Errorf("Installed() = %t, want %t", id.Installed(), tt.wantInstalled)
			}
			rebuilt, err := NewPackageID(tt.wantName, tt.wantVer, tt.wantArc, tt.wantData)
			if err != nil || rebuilt != id {
				t.Errorf("NewPackageID = %q, %v; want %q", rebuilt, err, id)
			}
		})
	}
}

func TestParsePackageIDRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
	}{
		{"empty string", ""},
		{"name only", "bash"},
		{"three fields", "bash;5.2;x86_64"},
		{"five fields", "bash;5.2;x86_64;installed;extra"},
		{"empty name", ";1.0;all;local"},
		{"only separators", ";;;"},
		{"invalid UTF-8", "bash\xff;1;all;r"},
		{"NUL byte", "bash\x00;1;all;r"},
		{"at the length limit", strings.Repeat("n", MaxStringLen-3) + ";;;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := ParsePackageID(tt.in)
			if !errors.Is(err, ErrInvalidPackageID) {
				t.Fatalf("ParsePackageID(%q) = %q, %v; want ErrInvalidPackageID", tt.in, id, err)
			}
			// Accessors of an invalid ID return nothing rather than garbage.
			bad := PackageID(tt.in)
			if bad.Name() != "" || bad.Version() != "" || bad.Arch() != "" || bad.Data() != "" || bad.Installed() {
				t.Errorf("accessors of invalid %q return %q %q %q %q %t", tt.in,
					bad.Name(), bad.Version(), bad.Arch(), bad.Data(), bad.Installed())
			}
		})
	}
}

func TestNewPackageIDRejectsSeparatorInField(t *testing.T) {
	t.Parallel()
	if id, err := NewPackageID("a;b", "1", "all", "r"); !errors.Is(err, ErrInvalidPackageID) {
		t.Errorf("NewPackageID with ';' in the name = %q, %v", id, err)
	}
	if id, err := NewPackageID("", "1", "all", "r"); !errors.Is(err, ErrInvalidPackageID) {
		t.Errorf("NewPackageID with an empty name = %q, %v", id, err)
	}
}

// FuzzParsePackageID checks that parsing never panics, that a parsed ID
// prints as its input, that printing and parsing again is stable, and that
// the fields rebuild the ID.
func FuzzParsePackageID(f *testing.F) {
	for _, s := range []string{
		"kapsule-fixture;1.1;all;local", "web-development;;;meta", ";;;", "a;b;c", "a;b;c;d;e",
		"größe;1;all;repo", "bash\xff;1;all;r", "x\x00;;;", "", ";", strings.Repeat("a", 1030) + ";;;",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParsePackageID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidPackageID) {
				t.Fatalf("ParsePackageID(%q): error %v does not wrap ErrInvalidPackageID", s, err)
			}
			return
		}
		if id.String() != s {
			t.Fatalf("ParsePackageID(%q).String() = %q", s, id)
		}
		again, err := ParsePackageID(id.String())
		if err != nil || again != id {
			t.Fatalf("reparse of %q = %q, %v", id, again, err)
		}
		if id.Name() == "" {
			t.Fatalf("valid ID %q has an empty name", s)
		}
		rebuilt, err := NewPackageID(id.Name(), id.Version(), id.Arch(), id.Data())
		if err != nil || rebuilt != id {
			t.Fatalf("rebuild of %q from its fields = %q, %v", s, rebuilt, err)
		}
	})
}
