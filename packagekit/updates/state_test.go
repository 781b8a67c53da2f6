package updates

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStoreRoundTripAndAtomicity(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := NewStore(filepath.Join(dir, "kapsule", "updates.json"))
	s, err := st.Load()
	if err != nil || len(s.Containers) != 0 {
		t.Fatalf("fresh Load = %+v, %v", s, err)
	}
	s.LastRun = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	s.Containers["dev"] = &ContainerState{Count: 1, Updates: []Update{{PackageID: "kapsule-fixture;1.1;all;local", Installed: "1.0", Severity: "normal"}}}
	if err := st.Save(s); err != nil {
		t.Fatal(err)
	}
	got, err := NewStore(st.Path()).Load()
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastRun.Equal(s.LastRun) || got.Containers["dev"].Count != 1 || got.Containers["dev"].Updates[0].Installed != "1.0" {
		t.Errorf("round trip: %+v", got)
	}
	entries, _ := os.ReadDir(filepath.Dir(st.Path()))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if fi, _ := os.Stat(filepath.Dir(st.Path())); fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v", fi.Mode().Perm())
	}
}

func TestCorruptStateIsKeptAsideNotLost(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "updates.json")
	if err := os.WriteFile(path, []byte(`{"version":1,"containers":{"dev":`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := NewStore(path).Load()
	if err == nil || !strings.Contains(err.Error(), "kept it as") {
		t.Fatalf("err = %v", err)
	}
	if s == nil || len(s.Containers) != 0 {
		t.Fatalf("state = %+v", s)
	}
	matches, _ := filepath.Glob(path + ".corrupt-*")
	if len(matches) != 1 {
		t.Fatalf("corrupt file not kept: %v", matches)
	}
	if b, _ := os.ReadFile(matches[0]); !strings.Contains(string(b), `"dev":`) {
		t.Errorf("kept file content %q", b)
	}
}

func TestUpdateSetKeyIgnoresOrder(t *testing.T) {
	t.Parallel()
	a := &State{Containers: map[string]*ContainerState{
		"x": {Updates: []Update{{PackageID: "b;1;all;r"}, {PackageID: "a;1;all;r"}}},
		"y": {Updates: []Update{{PackageID: "c;1;all;r"}}},
	}}
	b := &State{Containers: map[string]*ContainerState{
		"y": {Updates: []Update{{PackageID: "c;1;all;r"}}},
		"x": {Updates: []Update{{PackageID: "a;1;all;r"}, {PackageID: "b;1;all;r"}}},
	}}
	if a.UpdateSetKey() != b.UpdateSetKey() {
		t.Error("same set, different keys")
	}
	b.Containers["y"].Updates[0].PackageID = "c;2;all;r"
	if a.UpdateSetKey() == b.UpdateSetKey() {
		t.Error("different sets, same key")
	}
}
