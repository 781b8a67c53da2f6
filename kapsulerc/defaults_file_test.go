package kapsulerc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// shippedDefaults is the file `make install` puts at
// $(PREFIX)/share/kapsule/kapsulerc.
var shippedDefaults = filepath.Join("..", "data", "kapsulerc")

// TestShippedDefaultsMatchBuiltIns keeps data/kapsulerc and the settings
// table from drifting apart: every key in the file is a known setting set
// to its built-in default, and every setting is in the file exactly once.
func TestShippedDefaultsMatchBuiltIns(t *testing.T) {
	t.Parallel()
	raw, problems := Read([]string{shippedDefaults})
	if len(problems) != 0 {
		t.Fatalf("%s does not parse: %v", shippedDefaults, problems)
	}
	if len(raw) == 0 {
		t.Fatalf("%s: no settings read (missing file?)", shippedDefaults)
	}
	builtIn := map[string]string{}
	for _, s := range settings {
		builtIn[s.group+"/"+s.key] = s.def
	}
	for _, v := range raw.Sorted() {
		def, known := builtIn[v.Group+"/"+v.Key]
		switch {
		case !known:
			t.Errorf("[%s] %s: not a setting kapsulerc knows", v.Group, v.Key)
		case v.Value != def:
			t.Errorf("[%s] %s=%s, but the built-in default is %q", v.Group, v.Key, v.Value, def)
		}
	}
	for _, s := range settings {
		if n := len(raw[s.group][s.key]); n != 1 {
			t.Errorf("[%s] %s appears %d times in %s, want once", s.group, s.key, n, shippedDefaults)
		}
	}

	// Loaded as the lowest layer it changes nothing and reports nothing.
	c := LoadFiles([]string{shippedDefaults})
	if len(c.Problems) != 0 {
		t.Errorf("problems loading %s: %v", shippedDefaults, c.Problems)
	}
	plain := LoadFiles(nil)
	for i, v := range c.Values {
		if v.Value != plain.Values[i].Value || v.Source != shippedDefaults {
			t.Errorf("%s.%s = %q from %s, want %q (the built-in default) from the shipped file", v.Group, v.Key, v.Value, v.Source, plain.Values[i].Value)
		}
	}
}

// TestShippedDefaultsDocumentEverySetting asks for a comment above every
// key, so the file stays the reference a user reads.
func TestShippedDefaultsDocumentEverySetting(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(shippedDefaults)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		key, _, isKey := strings.Cut(line, "=")
		if !isKey || strings.HasPrefix(line, "#") {
			continue
		}
		if i == 0 || !strings.HasPrefix(lines[i-1], "#") {
			t.Errorf("line %d: %s has no comment line above it", i+1, strings.TrimSpace(key))
		}
	}
}
