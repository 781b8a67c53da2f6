package kapsulerc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsWithNoFiles(t *testing.T) {
	t.Parallel()
	c := LoadFiles([]string{filepath.Join(t.TempDir(), "missing")})
	if len(c.Problems) != 0 {
		t.Fatalf("problems: %v", c.Problems)
	}
	if c.Containers.DefaultContainer != "kapsule" || c.Updates.Schedule != "@daily" || c.Updates.AutoApply || !c.Updates.Notify {
		t.Errorf("defaults: %+v", c)
	}
	for _, v := range c.Values {
		if v.Source != BuiltIn {
			t.Errorf("%s/%s from %s", v.Group, v.Key, v.Source)
		}
	}
}

func TestCascadeLaterFilesWinAndSourcesAreKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	usr := write(t, dir, "usr/kapsulerc", "[Containers]\nDefaultImage=images:debian/12\nDefaultContainer=dev\n")
	etc := write(t, dir, "etc/kapsulerc", "[Containers]\nDefaultImage=images:fedora/41\n[Updates]\nSchedule=@every 6h\n")
	home := write(t, dir, "home/kapsulerc", "# my settings\n[Containers]\nDefaultImage=local:mine\n[Updates]\nMaxConcurrent=2\nIdle[de]=ignored\n")
	c := LoadFiles([]string{usr, etc, home})
	if len(c.Problems) != 0 {
		t.Fatalf("problems: %v", c.Problems)
	}
	want := map[string]Value{
		"DefaultContainer": {Value: "dev", Source: usr},
		"DefaultImage":     {Value: "local:mine", Source: home},
		"Schedule":         {Value: "@every 6h", Source: etc},
		"MaxConcurrent":    {Value: "2", Source: home},
		"Jitter":           {Value: "10m", Source: BuiltIn},
	}
	for key, w := range want {
		var found bool
		for _, v := range c.Values {
			if v.Key == key {
				found = true
				if v.Value != w.Value || v.Source != w.Source {
					t.Errorf("%s = %q from %s, want %q from %s", key, v.Value, v.Source, w.Value, w.Source)
				}
			}
		}
		if !found {
			t.Errorf("%s missing from Values", key)
		}
	}
	if c.Updates.MaxConcurrent != 2 || c.Containers.DefaultImage != "local:mine" {
		t.Errorf("typed: %+v", c)
	}
}

func TestBadValuesAreReportedAndDoNotWin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	etc := write(t, dir, "etc/kapsulerc", "[Updates]\nSchedule=@every 12h\n")
	home := write(t, dir, "home/kapsulerc", strings.Join([]string{
		"[Updates]",
		"Schedule=every tuesday",
		"MaxConcurrent=0",
		"StartupDelay=soon",
		"AutoApply=maybe",
		"MinBattery=150",
		"Colour=blue",
		"[Bridge]",
		"IdleStop=-5m",
	}, "\n"))
	c := LoadFiles([]string{etc, home})
	if c.Updates.Schedule != "@every 12h" {
		t.Errorf("bad schedule replaced the good one: %q", c.Updates.Schedule)
	}
	if c.Updates.MaxConcurrent != 4 || c.Updates.StartupDelay != 2*time.Minute || c.Updates.AutoApply || c.Updates.MinBattery != 20 || c.Bridge.IdleStop != 10*time.Minute {
		t.Errorf("bad values leaked: %+v %+v", c.Updates, c.Bridge)
	}
	got := map[string]bool{}
	for _, p := range c.Problems {
		got[p.Key] = true
		if p.Source != home {
			t.Errorf("problem %v names %s", p, p.Source)
		}
		if !strings.Contains(p.Error(), "fix or remove") {
			t.Errorf("problem text %q does not say what to do", p.Error())
		}
	}
	for _, k := range []string{"Schedule", "MaxConcurrent", "StartupDelay", "AutoApply", "MinBattery", "Colour", "IdleStop"} {
		if !got[k] {
			t.Errorf("no problem reported for %s (got %v)", k, c.Problems)
		}
	}
}

func TestMalformedFileIsSkippedNotFatal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := write(t, dir, "a/kapsulerc", "[Containers]\nDefaultContainer=box\n")
	bad := write(t, dir, "b/kapsulerc", "[Containers\nDefaultContainer=oops\n")
	c := LoadFiles([]string{good, bad})
	if c.Containers.DefaultContainer != "box" {
		t.Errorf("DefaultContainer = %q", c.Containers.DefaultContainer)
	}
	if len(c.Problems) != 1 || c.Problems[0].Source != bad {
		t.Errorf("problems = %v", c.Problems)
	}
}

func TestFilesFollowXDG(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		env  map[string]string
		want []string
	}{
		"spec defaults": {
			env: map[string]string{"HOME": "/home/a"},
			want: []string{"/usr/share/kapsule/kapsulerc", "/usr/local/share/kapsule/kapsulerc",
				"/etc/xdg/kapsulerc", "/home/a/.config/kapsulerc"},
		},
		"most important last, relative entries ignored": {
			env: map[string]string{
				"HOME":            "/home/a",
				"XDG_DATA_DIRS":   "/opt/kde/share:share::/usr/share",
				"XDG_CONFIG_DIRS": "/etc/xdg/kde:etc:/etc/xdg",
				"XDG_CONFIG_HOME": "/cfg",
			},
			want: []string{"/usr/share/kapsule/kapsulerc", "/opt/kde/share/kapsule/kapsulerc",
				"/etc/xdg/kapsulerc", "/etc/xdg/kde/kapsulerc", "/cfg/kapsulerc"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := Files(func(k string) string { return tc.env[k] })
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("Files = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"@daily", "@weekly", "@every 6h", "0 12 * * *", "*/30 * * * *"} {
		if _, err := ParseSchedule(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "daily", "@every 10s", "61 * * * *", "* * *"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add("[Updates]\nSchedule=@daily\n")
	f.Add("[Containers]\nDefaultImage=x\n[Bridge]\nIdleStop=5\n")
	f.Add("garbage\x00[")
	f.Fuzz(func(t *testing.T, content string) {
		p := filepath.Join(t.TempDir(), "kapsulerc")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		c := LoadFiles([]string{p})
		if _, err := ParseSchedule(c.Updates.Schedule); err != nil {
			t.Fatalf("effective schedule %q invalid: %v", c.Updates.Schedule, err)
		}
		if c.Updates.MaxConcurrent < 1 || c.Containers.DefaultContainer == "" {
			t.Fatalf("invalid effective config: %+v", c)
		}
	})
}
