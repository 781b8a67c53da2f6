package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
)

// Image servers known by name in "server:alias" image references.
var imageServers = map[string]string{
	"images": "https://images.linuxcontainers.org",
	"ubuntu": "https://cloud-images.ubuntu.com/releases",
}

// imageSource resolves an image reference: "alias" or "local:alias" is a
// local Incus image alias, "server:alias" an image on a known
// simplestreams server, "https://host/path:alias" any simplestreams server.
func (m *Manager) imageSource(ctx context.Context, image string) (incus.InstanceSource, error) {
	server, alias := "", image
	if i := strings.LastIndex(image, ":"); i > 0 && !strings.HasPrefix(image[i:], "://") {
		server, alias = image[:i], image[i+1:]
	}
	switch {
	case server == "" || server == "local":
		if _, err := m.cfg.Incus.ImageAlias(ctx, alias); err != nil {
			if errors.Is(err, incus.ErrNotFound) {
				return incus.InstanceSource{}, fmt.Errorf("%w: image %q: no local image alias %q (list them with 'incus image list'; for a server image use server:alias, e.g. images:debian/12)", ErrNotFound, image, alias)
			}
			return incus.InstanceSource{}, m.incusError(fmt.Sprintf("look up image %q", image), err)
		}
		return incus.LocalImage(alias), nil
	case strings.HasPrefix(server, "https://"):
		return incus.SimplestreamsImage(server, alias), nil
	}
	url, ok := imageServers[server]
	if !ok {
		return incus.InstanceSource{}, fmt.Errorf("%w: image %q: unknown image server %q (known: images, ubuntu, local, or an https:// URL)", ErrInvalidArgument, image, server)
	}
	return incus.SimplestreamsImage(url, alias), nil
}

// Create creates and starts a container. raw are the options as given
// (D-Bus a{sv}), image "" means the configured default; the result is
// recorded on the instance so Reset can replay it.
func (m *Manager) Create(ctx context.Context, name, image string, raw map[string]any, r Reporter) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	defaults := m.Defaults(ctx)
	if v, ok := raw["image"]; ok {
		s, _ := v.(string)
		if image != "" && s != image {
			return fmt.Errorf("%w: image given twice (%q and option image=%q)", ErrInvalidArgument, image, s)
		}
	}
	if image != "" {
		defaults.Image = image
	}
	opts, err := ParseOptions(defaults, raw)
	if err != nil {
		return err
	}
	return m.create(ctx, name, opts, r)
}

func (m *Manager) create(ctx context.Context, name string, opts Options, r Reporter) error {
	if _, _, err := m.cfg.Incus.Instance(ctx, name); err == nil {
		return fmt.Errorf("%w: a container (or Incus instance) named %q exists; pick another name", ErrAlreadyExists, name)
	} else if !errors.Is(err, incus.ErrNotFound) {
		return m.incusError(fmt.Sprintf("create %q", name), err)
	}
	server, err := m.serverFacts(ctx)
	if err != nil {
		return err
	}
	if err := CheckAllowed(opts, m.cfg.Host, *server); err != nil {
		return err
	}
	src, err := m.imageSource(ctx, opts.Image)
	if err != nil {
		return err
	}

	r.Started("create", fmt.Sprintf("Creating %s from %s", name, opts.Image), -1)
	hostNet := opts.HostNetwork
	spec, err := BuildSpec(opts, m.cfg.Host, *server, hostNet)
	if err != nil {
		return err
	}
	err = m.createInstance(ctx, name, src, spec, r)
	if err != nil && hostNet && refusesHostNetwork(err) {
		// Incus 6.0 refuses lxc.net.0.type=none; newer releases accept it.
		hostNet = false
		if spec, err = BuildSpec(opts, m.cfg.Host, *server, false); err != nil {
			return err
		}
		spec.Notices = append(spec.Notices, "this Incus server refuses host networking (raw.lxc lxc.net.0.type=none, as Incus 6.0 does): the container uses the default profile's network")
		err = m.createInstance(ctx, name, src, spec, r)
	}
	if err != nil {
		r.Completed("create", false, "")
		return err
	}
	for _, n := range spec.Notices {
		r.Message(MessageWarning, n)
	}

	// From here on, a failure removes the half-made container.
	undo := func() {
		cctx := context.WithoutCancel(ctx)
		if op, err := m.cfg.Incus.StopInstance(cctx, name, incus.StopOptions{Force: true}); err == nil {
			_, _ = op.Wait(cctx, 0)
		}
		if op, err := m.cfg.Incus.DeleteInstance(cctx, name); err == nil {
			_, _ = op.Wait(cctx, 0)
		}
	}
	if err := m.seed(ctx, name, opts); err != nil {
		undo()
		return err
	}
	r.Text("create", fmt.Sprintf("Starting %s", name))
	if err := m.startInstance(ctx, name); err != nil {
		undo()
		return err
	}
	_ = m.waitBooted(ctx, name)
	r.Completed("create", true, fmt.Sprintf("Created %s (networking: %s)", name, spec.Networking))
	m.log.Info("container created", "container", name, "image", opts.Image, "networking", spec.Networking)
	return nil
}

func refusesHostNetwork(err error) bool {
	return strings.Contains(err.Error(), "lxc.net.") && strings.Contains(err.Error(), "allowed")
}

func (m *Manager) createInstance(ctx context.Context, name string, src incus.InstanceSource, spec Spec, r Reporter) error {
	op, err := m.cfg.Incus.CreateInstance(ctx, incus.InstancesPost{
		Name:    name,
		Type:    "container",
		Source:  src,
		Config:  spec.Config,
		Devices: spec.Devices,
	})
	if err != nil {
		return m.incusError(fmt.Sprintf("create %q", name), err)
	}
	_, err = op.WaitProgress(ctx, func(p incus.Progress) {
		if p.Text != "" {
			r.Text("create", p.Text)
		}
	})
	if err != nil {
		if ctx.Err() != nil {
			_ = op.Cancel(context.WithoutCancel(ctx))
		}
		return m.incusError(fmt.Sprintf("create %q", name), err)
	}
	return nil
}

// seed writes what every Kapsule container has before its first start:
// /.kapsule (Konsole recognises a Kapsule container by it), the hostname,
// and on cgroup v1 hosts a podman configuration that works without
// cgroups.
func (m *Manager) seed(ctx context.Context, name string, opts Options) error {
	push := func(path, content string, typ incus.FileType, mode os.FileMode) error {
		err := m.cfg.Incus.PushFile(ctx, name, path, strings.NewReader(content), incus.PushOptions{Type: typ, Mode: mode})
		if err != nil {
			return m.incusError(fmt.Sprintf("prepare %q: write %s", name, path), err)
		}
		return nil
	}
	if err := push("/.kapsule", "", incus.TypeDirectory, 0o755); err != nil {
		return err
	}
	if err := push("/etc/hostname", name+"\n", incus.TypeFile, 0o644); err != nil {
		return err
	}
	if opts.Nesting && !CgroupV2() {
		for _, dir := range []string{"/etc/containers", "/etc/containers/containers.conf.d"} {
			if _, _, err := m.cfg.Incus.PullFile(ctx, name, dir); err != nil {
				if err := push(dir, "", incus.TypeDirectory, 0o755); err != nil {
					return err
				}
			}
		}
		conf := "# Written by Kapsule: this host uses cgroup v1, where an unprivileged\n" +
			"# container cannot create cgroups, so nested containers run without them.\n" +
			"[containers]\ncgroups = \"disabled\"\n"
		if err := push("/etc/containers/containers.conf.d/50-kapsule-cgroups.conf", conf, incus.TypeFile, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Reset recreates a container from its recorded image and options. The
// record is saved under the state directory first, so that a failure
// after the delete loses nothing: Reset finds the record again.
func (m *Manager) Reset(ctx context.Context, name string, r Reporter) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	recPath := filepath.Join(m.cfg.StateDir, "reset", name+".json")
	var opts Options
	c, err := m.Get(ctx, name)
	switch {
	case err == nil:
		opts = c.Options
		if err := writeRecord(recPath, opts); err != nil {
			return fmt.Errorf("reset %q: save its options first: %w", name, err)
		}
		r.Message(MessageInfo, fmt.Sprintf("Deleting %s (your home and mounted host paths are kept)", name))
		if err := m.Delete(ctx, name, true, r); err != nil {
			return err
		}
	case errors.Is(err, ErrNotFound):
		// A reset interrupted after the delete: replay the saved record.
		rec, rerr := readRecord(recPath)
		if rerr != nil {
			return err
		}
		opts = rec
		r.Message(MessageInfo, fmt.Sprintf("Finishing an interrupted reset of %s", name))
	default:
		return err
	}
	r.Message(MessageInfo, fmt.Sprintf("Creating %s again from %s", name, opts.Image))
	if err := m.create(ctx, name, opts, r); err != nil {
		return fmt.Errorf("reset %q: %w (its options are kept in %s; run the reset again)", name, err, recPath)
	}
	_ = os.Remove(recPath)
	return nil
}

func writeRecord(path string, o Options) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(o.MarshalRecord()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readRecord(path string) (Options, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Options{}, err
	}
	var probe map[string]any
	if err := json.Unmarshal(b, &probe); err != nil {
		return Options{}, err
	}
	return UnmarshalRecord(string(b), DefaultOptions(""))
}
