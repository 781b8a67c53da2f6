package lifecycle

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		name    string
		wantErr string // substring; "" means valid
	}{
		"simple":                   {name: "dev"},
		"with dash and digits":     {name: "arch-2024"},
		"upper case":               {name: "Dev"},
		"63 characters":            {name: "a" + strings.Repeat("b", 62)},
		"empty":                    {name: "", wantErr: "empty container name"},
		"64 characters":            {name: "a" + strings.Repeat("b", 63), wantErr: "64 characters long"},
		"leading digit":            {name: "1dev", wantErr: "starts with a digit"},
		"leading dash":             {name: "-dev", wantErr: "starts with '-'"},
		"trailing dash":            {name: "dev-", wantErr: "ends with '-'"},
		"dot escapes bus name":     {name: "dev.evil", wantErr: `contains '.'`},
		"slash escapes path":       {name: "dev/../x", wantErr: `contains '/'`},
		"underscore":               {name: "dev_1", wantErr: `contains '_'`},
		"shell metacharacters":     {name: "dev;rm", wantErr: `contains ';'`},
		"space":                    {name: "my dev", wantErr: `contains ' '`},
		"non-ascii":                {name: "dév", wantErr: "contains"},
		"newline":                  {name: "dev\n", wantErr: "contains"},
		"command substitution":     {name: "a$(id)", wantErr: `contains '$'`},
		"nul byte":                 {name: "a\x00b", wantErr: "contains"},
		"only letters max allowed": {name: strings.Repeat("z", 63)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := ValidateName(tc.name)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateName(%q) = %v, want nil", tc.name, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateName(%q) = nil, want error containing %q", tc.name, tc.wantErr)
			}
			if !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("error %v is not ErrInvalidArgument", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

// FuzzValidateName checks that whatever passes is safe to use as a
// hostname, a D-Bus name element (after '-' -> '_') and an object path
// element, and that validation never panics.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"dev", "a-b", "", "-", "1a", "a.b", "a/b", "ä", strings.Repeat("x", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateName(name) != nil {
			return
		}
		if len(name) == 0 || len(name) > MaxNameLength {
			t.Fatalf("accepted length %d", len(name))
		}
		for _, r := range name {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				t.Fatalf("accepted %q in %q", r, name)
			}
		}
		if name[0] == '-' || (name[0] >= '0' && name[0] <= '9') || name[len(name)-1] == '-' {
			t.Fatalf("accepted bad edge in %q", name)
		}
	})
}
