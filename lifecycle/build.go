package lifecycle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Config keys Kapsule writes on its instances. user.* keys are readable from
// inside the container (/dev/incus): never store secrets there.
const (
	KeyManaged  = "user.kapsule.managed"  // "true" on every Kapsule container
	KeyOptions  = "user.kapsule.options"  // Options as JSON, replayed by reset
	KeyImage    = "user.kapsule.image"    // the image as the user gave it
	KeyOwner    = "user.kapsule.owner"    // host uid of the user it was made for
	KeyNetwork  = "user.kapsule.network"  // networking the container got: host or profile
	KeyAccounts = "user.kapsule.accounts" // host uids whose account exists inside, comma-separated
)

// Networking a container got.
const (
	NetworkHost    = "host"    // the host's network namespace (raw.lxc lxc.net.0.type=none)
	NetworkProfile = "profile" // the NICs of its profiles (e.g. the default bridge)
)

// HostFS is where the host's / (host_rootfs) or parts of it are mounted.
const HostFS = "/.kapsule/host"

// Host describes the user and the host a container is made for.
type Host struct {
	User       string
	UID, GID   uint32
	Home       string
	RuntimeDir string // $XDG_RUNTIME_DIR, usually /run/user/UID
	X11Dir     string // /tmp/.X11-unix when it exists, else ""
	HasGPU     bool   // /dev/dri exists
	HasNvidia  bool   // nvidia-container-cli is installed
}

// Server describes what the Incus server and project allow.
type Server struct {
	// Restricted is true in an incus-user per-user project: no privileged
	// containers, raw.lxc, syscall interception, proxy or unix-char
	// devices, and no disks outside the user's home.
	Restricted bool
	// ProjectMapsUser is true when the project's profile already maps the
	// user's uid/gid (incus-user sets raw.idmap there).
	ProjectMapsUser bool
	// IdmapAllowed is true when root may map the user's ids into
	// containers (/etc/subuid, /etc/subgid): then raw.idmap keeps the
	// user's uid inside; else disks are shifted with idmapped mounts.
	IdmapAllowed bool
	// ProfileNICs are the NIC devices of the default profile, masked when
	// the container shares the host's network.
	ProfileNICs []string
}

// Spec is what Incus is asked to create.
type Spec struct {
	Config  map[string]string
	Devices map[string]map[string]string
	// Networking is NetworkHost or NetworkProfile.
	Networking string
	// Notices tell the user what was adapted (e.g. no GPU on the host).
	Notices []string
}

// DefaultOptionsFor are the defaults on a given server: in a restricted
// project, options it cannot honour default to off.
func DefaultOptionsFor(defaultImage string, s Server) Options {
	o := DefaultOptions(defaultImage)
	if s.Restricted {
		o.Wayland, o.X11, o.PipeWire, o.PulseAudio, o.SessionBus = false, false, false, false, false
		o.HostNetwork = false
	}
	return o
}

// CheckAllowed refuses, up front and with the reason, options the server
// or project cannot honour.
func CheckAllowed(o Options, h Host, s Server) error {
	if !s.Restricted {
		return nil
	}
	refuse := func(opt, why string) error {
		return fmt.Errorf("%w: option %q: %s (your Incus access is the per-user project of incus-user; ask to be added to the incus-admin group for this)", ErrUnsupported, opt, why)
	}
	switch {
	case o.Privileged:
		return refuse("privileged", "privileged containers are not allowed")
	case o.HostRootfs:
		return refuse("host_rootfs", "disks outside your home directory are not allowed")
	case o.HostNetwork:
		return refuse("host_network", "raw.lxc (host networking) is not allowed")
	case o.NvidiaDrivers:
		return refuse("nvidia_drivers", "nvidia.runtime is not allowed")
	case o.Wayland || o.X11 || o.PipeWire || o.PulseAudio || o.SessionBus:
		return refuse(firstSocket(o), "the runtime directory "+h.RuntimeDir+" is outside your home directory")
	}
	for _, m := range o.CustomMounts {
		p := expandHome(m, h.Home)
		if !within(p, h.Home) {
			return refuse("custom_mounts", fmt.Sprintf("%s is outside your home directory %s", p, h.Home))
		}
	}
	return nil
}

func firstSocket(o Options) string {
	for _, s := range []struct {
		on   bool
		name string
	}{{o.Wayland, "wayland"}, {o.X11, "x11"}, {o.PipeWire, "pipewire"}, {o.PulseAudio, "pulseaudio"}, {o.SessionBus, "session_bus"}} {
		if s.on {
			return s.name
		}
	}
	return ""
}

// BuildSpec turns options into instance config and devices. hostNetwork
// says whether to ask for the host's network (the caller retries without
// it when Incus refuses lxc.net.0.type=none, as Incus 6.0 does).
func BuildSpec(o Options, h Host, s Server, hostNetwork bool) (Spec, error) {
	if err := o.Validate(); err != nil {
		return Spec{}, err
	}
	if err := CheckAllowed(o, h, s); err != nil {
		return Spec{}, err
	}
	if o.NvidiaDrivers && !h.HasNvidia {
		return Spec{}, fmt.Errorf("%w: option \"nvidia_drivers\": nvidia-container-cli is not installed on the host", ErrUnsupported)
	}
	if o.NvidiaDrivers && o.Privileged {
		return Spec{}, fmt.Errorf("%w: option \"nvidia_drivers\" does not work with \"privileged\" (Incus refuses nvidia.runtime there)", ErrUnsupported)
	}
	sp := Spec{
		Config: map[string]string{
			KeyManaged: "true",
			KeyOptions: o.MarshalRecord(),
			KeyImage:   o.Image,
			KeyOwner:   strconv.FormatUint(uint64(h.UID), 10),
		},
		Devices:    map[string]map[string]string{},
		Networking: NetworkProfile,
	}
	c, d := sp.Config, sp.Devices

	if o.Nesting {
		c["security.nesting"] = "true"
		if !s.Restricted {
			c["security.syscalls.intercept.mknod"] = "true"
			c["security.syscalls.intercept.setxattr"] = "true"
		}
	}
	// Same uid inside and out, so the home keeps its owner and the session
	// bus accepts the user: privileged containers have it for free; else
	// map the user's ids, or shift mounts when root may not map them.
	shift := false
	switch {
	case o.Privileged:
		c["security.privileged"] = "true"
	case s.ProjectMapsUser:
	case s.IdmapAllowed:
		c["raw.idmap"] = fmt.Sprintf("uid %d %d\ngid %d %d", h.UID, h.UID, h.GID, h.GID)
	default:
		shift = true
		sp.Notices = append(sp.Notices, "root may not map your uid into containers (no root:"+strconv.FormatUint(uint64(h.UID), 10)+":1 in /etc/subuid), so host mounts are shifted; your session bus will not accept the container's processes")
	}
	if o.CPU != "" {
		c["limits.cpu"] = o.CPU
	}
	if o.Memory != "" {
		c["limits.memory"] = o.Memory
	}
	if hostNetwork && o.HostNetwork {
		c["raw.lxc"] = "lxc.net.0.type=none\n"
		sp.Networking = NetworkHost
		for _, nic := range s.ProfileNICs {
			d[nic] = map[string]string{"type": "none"}
		}
	}
	c[KeyNetwork] = sp.Networking

	disk := func(src, path string, extra ...string) map[string]string {
		m := map[string]string{"type": "disk", "source": src, "path": path}
		if shift {
			m["shift"] = "true"
		}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	if o.MountHome {
		d["kapsule-home"] = disk(h.Home, h.Home)
	}
	if o.HostRootfs {
		d["kapsule-hostfs"] = disk("/", HostFS, "recursive", "true", "propagation", "rslave")
	}
	for _, m := range o.CustomMounts {
		p := filepath.Clean(expandHome(m, h.Home))
		if o.MountHome && within(p, h.Home) {
			continue // already visible through the home mount
		}
		d[MountDeviceName(p)] = disk(p, p)
	}
	if o.Wayland || o.PipeWire || o.PulseAudio || o.SessionBus || o.X11 {
		if h.RuntimeDir == "" {
			sp.Notices = append(sp.Notices, "XDG_RUNTIME_DIR is not set: Wayland, PipeWire, PulseAudio and the session bus are not shared")
		} else {
			d["kapsule-runtime"] = disk(h.RuntimeDir, RuntimeMount(h))
		}
	}
	if o.X11 {
		if h.X11Dir == "" {
			sp.Notices = append(sp.Notices, "no /tmp/.X11-unix on the host: X11 is not shared")
		} else {
			d["kapsule-x11"] = disk(h.X11Dir, "/tmp/.X11-unix", "readonly", "true")
		}
	}
	if o.GPU {
		if h.HasGPU {
			d["kapsule-gpu"] = map[string]string{"type": "gpu", "gid": strconv.FormatUint(uint64(h.GID), 10), "mode": "0660"}
		} else {
			sp.Notices = append(sp.Notices, "no GPU on the host (/dev/dri is missing): GPU passthrough skipped")
		}
	}
	if o.NvidiaDrivers {
		c["nvidia.runtime"] = "true"
		c["nvidia.driver.capabilities"] = "all"
	}
	return sp, nil
}

// RuntimeMount is where the host's runtime directory appears inside.
func RuntimeMount(h Host) string {
	return HostFS + "/run/user/" + strconv.FormatUint(uint64(h.UID), 10)
}

// MountDeviceName names the device of a custom mount: readable when it
// fits Incus's 64-character device names, else hashed.
func MountDeviceName(path string) string {
	s := strings.Trim(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, path), "-")
	name := "kapsule-mount-" + s
	sum := sha256.Sum256([]byte(path))
	if len(name) > 60 || s == "" {
		return "kapsule-mount-" + hex.EncodeToString(sum[:6])
	}
	return name
}

func expandHome(p, home string) string {
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}

func within(p, dir string) bool {
	if dir == "" {
		return false
	}
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// HostMounts lists the host paths mounted into a container by its devices
// (what rm and reset must never delete), sorted.
func HostMounts(devices map[string]map[string]string) []string {
	var out []string
	for _, dev := range devices {
		if dev["type"] == "disk" && dev["source"] != "" && dev["pool"] == "" {
			out = append(out, dev["source"])
		}
	}
	sort.Strings(out)
	return out
}
