package packagekit

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

func TestNoFilterIsTheNoneBit(t *testing.T) {
	t.Parallel()
	if NoFilter != 2 {
		t.Errorf("NoFilter = %d, want 2 (bit 1, the none filter)", NoFilter)
	}
	if NoFilter.String() != "none" {
		t.Errorf("NoFilter.String() = %q, want none", NoFilter)
	}
	if f, err := ParseFilters("none"); err != nil || f != NoFilter {
		t.Errorf(`ParseFilters("none") = %d, %v; want NoFilter`, f, err)
	}
}

func TestParseFilters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    Filters
		wantErr bool
	}{
		{"empty string is the empty set", "", 0, false},
		{"one filter", "installed", 1 << 2, false},
		{"installed and not devel", "installed;~devel", 1<<2 | 1<<5, false},
		{"order does not matter", "~devel;installed", 1<<2 | 1<<5, false},
		{"repeats are harmless", "gui;gui", 1 << 6, false},
		{"highest filter", "~downloaded", 1 << 27, false},
		{"unknown name", "installed;bogus", 0, true},
		{"empty element", "installed;;devel", 0, true},
		{"trailing separator", "installed;", 0, true},
		{"spaces are not trimmed", "installed; devel", 0, true},
		{"case matters", "Installed", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFilters(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrUnknownValue) {
					t.Errorf("ParseFilters(%q) = %d, %v; want an ErrUnknownValue error", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseFilters(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestBitfieldString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"filters lowest first", BitfieldOf(FilterNotDevel, FilterInstalled).String(), "installed;~devel"},
		{"empty filters", Filters(0).String(), ""},
		{"simulate flag", BitfieldOf(TransactionFlagSimulate).String(), "simulate"},
		{"none flag is bit 0", TransactionFlags(1).String(), "none"},
		{"unknown bit", Roles(1 << 40).String(), "Role(40)"},
		{"apt's filters", Filters(83890516).String(), "installed;devel;gui;free;supported;application;downloaded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestBitfieldSetOperations(t *testing.T) {
	t.Parallel()
	// The Roles property of PackageKit 1.2.6's apt backend, read from a
	// test container.
	apt := Roles(8371765246)
	for _, r := range []Role{RoleCancel, RoleGetUpdates, RoleRefreshCache, RoleInstallPackages,
		RoleUpdatePackages, RoleRemovePackages, RoleResolve, RoleSearchName, RoleGetRepoList,
		RoleRepoEnable, RoleGetOldTransactions, RoleRepoRemove} {
		if !apt.Has(r) {
			t.Errorf("apt roles lack %s", r)
		}
	}
	for _, r := range []Role{RoleUnknown, RoleRepoSetData, RoleAcceptEula, RoleGetDistroUpgrades,
		RoleGetCategories, RoleUpgradeSystem} {
		if apt.Has(r) {
			t.Errorf("apt roles have %s", r)
		}
	}

	b := BitfieldOf(FilterInstalled)
	b = b.With(FilterNotDevel, FilterGUI)
	if want := []Filter{FilterInstalled, FilterNotDevel, FilterGUI}; !slices.Equal(b.Values(), want) {
		t.Errorf("Values() = %v, want %v", b.Values(), want)
	}
	b = b.Without(FilterNotDevel, FilterFree)
	if b.Has(FilterNotDevel) || !b.Has(FilterGUI) || !b.Has(FilterInstalled) {
		t.Errorf("after Without: %v", b)
	}
	if got := b.With(Filter(64)); got != b {
		t.Errorf("a value beyond bit 63 changed the set: %v", got)
	}
	if b.Has(Filter(64)) || b.Has(Filter(1000)) {
		t.Error("Has of a value beyond bit 63 is true")
	}
	if len(Filters(0).Values()) != 0 {
		t.Error("empty set has values")
	}
}

func TestBitfieldTextRoundTrip(t *testing.T) {
	t.Parallel()
	type doc struct {
		Filters Filters          `json:"filters"`
		Flags   TransactionFlags `json:"flags"`
	}
	in := doc{BitfieldOf(FilterInstalled, FilterNewest), BitfieldOf(TransactionFlagSimulate, TransactionFlagOnlyTrusted)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"filters":"installed;newest","flags":"only-trusted;simulate"}`; string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
	var out doc
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Errorf("round trip = %+v, %v; want %+v", out, err, in)
	}
	// Every single bit of every known role survives String and Parse.
	for r := RoleUnknown; r.Known(); r++ {
		one := BitfieldOf(r)
		back, err := ParseBitfield[Role](one.String())
		if err != nil || back != one {
			t.Errorf("role %s: round trip = %v, %v", r, back, err)
		}
	}
}
