package lifecycle

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// updateGolden rewrites golden files: KAPSULE_UPDATE_GOLDEN=1 go test ./...
var updateGolden = os.Getenv("KAPSULE_UPDATE_GOLDEN") != ""

func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (refresh with KAPSULE_UPDATE_GOLDEN=1)", err)
	}
	if string(want) != string(b) {
		t.Errorf("%s differs from golden file:\n--- got\n%s\n--- want\n%s", name, b, want)
	}
}

var alice = Host{
	User: "alice", UID: 1000, GID: 1000, Home: "/home/alice",
	RuntimeDir: "/run/user/1000", X11Dir: "/tmp/.X11-unix", HasGPU: true,
}

func TestBuildSpecGolden(t *testing.T) {
	t.Parallel()
	admin := Server{IdmapAllowed: true, ProfileNICs: []string{"eth0"}}
	tests := map[string]struct {
		opts    func(o *Options)
		host    Host
		server  Server
		hostNet bool
	}{
		"defaults-host-network":    {host: alice, server: admin, hostNet: true},
		"defaults-profile-network": {host: alice, server: admin, hostNet: false},
		"privileged-no-gpu-host": {
			opts: func(o *Options) { o.Privileged = true; o.HostRootfs = true },
			host: func() Host { h := alice; h.HasGPU = false; h.X11Dir = ""; return h }(), server: admin,
		},
		"no-idmap-shifts-mounts": {host: alice, server: Server{}},
		"limits-and-mounts": {
			opts: func(o *Options) {
				o.CPU, o.Memory = "2", "4GiB"
				o.CustomMounts = []string{"/srv/data", "~/src/kde", "/opt/" + strings.Repeat("long-directory-name/", 4)}
				o.Nesting = false
			},
			host: alice, server: admin,
		},
		"restricted-project": {
			opts: func(o *Options) {
				*o = DefaultOptionsFor("img", Server{Restricted: true})
				o.CustomMounts = []string{"~/work"}
			},
			host:   alice,
			server: Server{Restricted: true, ProjectMapsUser: true},
		},
		"nothing-shared": {
			opts: func(o *Options) {
				o.MountHome, o.Wayland, o.X11, o.PipeWire, o.PulseAudio, o.SessionBus, o.GPU = false, false, false, false, false, false, false
			},
			host: alice, server: admin,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := DefaultOptions("images:debian/12")
			if tc.opts != nil {
				tc.opts(&o)
			}
			sp, err := BuildSpec(o, tc.host, tc.server, tc.hostNet)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "build/"+name, sp)
		})
	}
}

func TestBuildSpecRefusesWhatTheProjectForbids(t *testing.T) {
	t.Parallel()
	restricted := Server{Restricted: true, ProjectMapsUser: true}
	tests := map[string]struct {
		opts    func(o *Options)
		wantErr string
	}{
		"privileged":          {func(o *Options) { o.Privileged = true }, `"privileged": privileged containers are not allowed`},
		"host rootfs":         {func(o *Options) { o.HostRootfs = true }, `"host_rootfs": disks outside your home`},
		"host network":        {func(o *Options) { o.HostNetwork = true }, `"host_network": raw.lxc`},
		"wayland socket":      {func(o *Options) { o.Wayland = true }, `"wayland": the runtime directory /run/user/1000 is outside your home`},
		"mount outside home":  {func(o *Options) { o.CustomMounts = []string{"/srv"} }, `/srv is outside your home directory /home/alice`},
		"mount sneaking out":  {func(o *Options) { o.CustomMounts = []string{"/home/alice2"} }, `outside your home`},
		"nvidia without tool": {func(o *Options) { o.NvidiaDrivers = true }, `nvidia`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := DefaultOptionsFor("img", restricted)
			tc.opts(&o)
			_, err := BuildSpec(o, alice, restricted, false)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("err %v is not ErrUnsupported", err)
			}
		})
	}
	if _, err := BuildSpec(DefaultOptionsFor("img", restricted), alice, restricted, false); err != nil {
		t.Errorf("restricted defaults refused: %v", err)
	}
}

func TestNvidiaNeedsTheHostTool(t *testing.T) {
	t.Parallel()
	o := DefaultOptions("img")
	o.NvidiaDrivers = true
	if _, err := BuildSpec(o, alice, Server{IdmapAllowed: true}, false); err == nil || !strings.Contains(err.Error(), "nvidia-container-cli is not installed") {
		t.Fatalf("err = %v", err)
	}
	h := alice
	h.HasNvidia = true
	sp, err := BuildSpec(o, h, Server{IdmapAllowed: true}, false)
	if err != nil || sp.Config["nvidia.runtime"] != "true" {
		t.Fatalf("spec %v, err %v", sp.Config, err)
	}
}

func TestHostMountsListsBindSourcesOnly(t *testing.T) {
	t.Parallel()
	o := DefaultOptions("img")
	o.CustomMounts = []string{"/srv/a"}
	o.HostRootfs = true
	sp, err := BuildSpec(o, alice, Server{IdmapAllowed: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	sp.Devices["root"] = map[string]string{"type": "disk", "path": "/", "pool": "default"}
	got := strings.Join(HostMounts(sp.Devices), " ")
	if got != "/ /home/alice /run/user/1000 /srv/a /tmp/.X11-unix" {
		t.Errorf("HostMounts = %q", got)
	}
}
