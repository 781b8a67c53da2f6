package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"invent.kde.org/kapsule/kapsule/kapsulerc"
	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
)

// Incus is what the life cycle needs from the Incus API (*incus.Client).
type Incus interface {
	Server(ctx context.Context) (*incus.Server, error)
	GetProject(ctx context.Context, name string) (*incus.Project, error)
	Profile(ctx context.Context, name string) (*incus.Profile, error)
	Instances(ctx context.Context, q incus.InstanceQuery) ([]incus.Instance, error)
	Instance(ctx context.Context, name string) (*incus.Instance, string, error)
	CreateInstance(ctx context.Context, req incus.InstancesPost) (*incus.Op, error)
	PatchInstance(ctx context.Context, name string, patch incus.InstancePatch) error
	DeleteInstance(ctx context.Context, name string) (*incus.Op, error)
	StartInstance(ctx context.Context, name string) (*incus.Op, error)
	StopInstance(ctx context.Context, name string, opts incus.StopOptions) (*incus.Op, error)
	Exec(ctx context.Context, instance string, cmd incus.Cmd) (int, error)
	PushFile(ctx context.Context, instance, path string, content io.Reader, opts incus.PushOptions) error
	PullFile(ctx context.Context, instance, path string) (io.ReadCloser, *incus.FileInfo, error)
	ImageAlias(ctx context.Context, name string) (*incus.ImageAlias, error)
	Events(ctx context.Context, types ...incus.EventType) (*incus.EventListener, error)
	ExecStream(ctx context.Context, instance string, command []string, env map[string]string, opts ...incus.StreamOption) (*incus.Stream, error)
}

// Config wires a Manager.
type Config struct {
	Incus   Incus
	Socket  string // the Incus socket clients should use for exec
	Project string // the Incus project ("" = default)
	// Restricted says the access is an incus-user per-user project.
	Restricted bool
	Host       Host
	// Settings returns the current kapsulerc.
	Settings func() *kapsulerc.Config
	// StateDir keeps reset records ($XDG_STATE_HOME/kapsule).
	StateDir string
	Log      *slog.Logger
}

// Manager creates, runs and removes Kapsule's containers on Incus. Only
// instances marked user.kapsule.managed=true are listed or touched.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	server   *Server // probed once
	prepared map[string]preparedKey
	// While Watch follows Incus's events, instances read are cached until
	// an event says they changed, so a warm PrepareExec asks Incus nothing.
	watching bool
	cache    map[string]*incus.Instance
	gen      map[string]uint64 // bumped by every change, so a read racing one is not cached
	// autoStarted are containers Kapsule started for its own needs
	// (update sources, checks) and may stop again.
	autoStarted map[string]bool
	// leftovers are containers a previous kapsuled started on its own and
	// did not stop (StopLeftovers), until stopped, claimed or adopted.
	leftovers map[string]bool
}

// NewManager returns a Manager.
func NewManager(cfg Config) *Manager {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, log: cfg.Log, prepared: map[string]preparedKey{}, cache: map[string]*incus.Instance{}, gen: map[string]uint64{}, autoStarted: map[string]bool{}, leftovers: map[string]bool{}}
}

// Container is one Kapsule container.
type Container struct {
	Name       string
	Status     string // Incus's: Running, Stopped, ...
	Running    bool
	Image      string
	Created    time.Time
	Options    Options
	Networking string
	Owner      uint32
	Project    string
	StartedAt  time.Time // when known (state queried)
}

// owner is how the user's containers are marked (user.kapsule.owner).
func (m *Manager) owner() string { return strconv.FormatUint(uint64(m.cfg.Host.UID), 10) }

// settings returns the current configuration.
func (m *Manager) settings() *kapsulerc.Config {
	if m.cfg.Settings == nil {
		return kapsulerc.LoadFiles(nil)
	}
	return m.cfg.Settings()
}

// Defaults returns the options of a create with no options on this server.
func (m *Manager) Defaults(ctx context.Context) Options {
	s, err := m.serverFacts(ctx)
	if err != nil {
		s = &Server{}
	}
	return DefaultOptionsFor(m.settings().Containers.DefaultImage, *s)
}

// serverFacts probes what the server and project allow (once).
func (m *Manager) serverFacts(ctx context.Context) (*Server, error) {
	m.mu.Lock()
	if m.server != nil {
		defer m.mu.Unlock()
		return m.server, nil
	}
	m.mu.Unlock()
	s := &Server{Restricted: m.cfg.Restricted}
	if p, err := m.cfg.Incus.GetProject(ctx, m.cfg.Project); err == nil && p.Restricted() {
		s.Restricted = true
	} else if err != nil {
		// A restricted client certificate may not be allowed to read its
		// project: then the socket we came through says what it is.
		if !errors.Is(err, incus.ErrForbidden) && !errors.Is(err, incus.ErrNotFound) {
			return nil, m.incusError("inspect the Incus project", err)
		}
		m.log.Debug("cannot inspect the Incus project; going by the socket", "project", m.cfg.Project, "restricted", s.Restricted, "error", err)
	}
	if p, err := m.cfg.Incus.Profile(ctx, "default"); err == nil {
		for name, d := range p.Devices {
			if d["type"] == "nic" {
				s.ProfileNICs = append(s.ProfileNICs, name)
			}
		}
		sort.Strings(s.ProfileNICs)
		// incus-user maps the user's ids in its project's profile, but
		// only when /etc/subuid allowed it when the user was set up.
		s.ProjectMapsUser = IdmapMapsUser(p.Config["raw.idmap"], m.cfg.Host.UID, m.cfg.Host.GID)
	}
	// A restricted project allows raw.idmap of the user's own ids
	// (restricted.idmap.uid/gid), so Kapsule maps them itself when the
	// profile does not and root may.
	s.IdmapAllowed = RootMayMapFiles(m.cfg.Host.UID, m.cfg.Host.GID)
	m.mu.Lock()
	m.server = s
	m.mu.Unlock()
	return s, nil
}

// List returns Kapsule's containers, sorted by name.
func (m *Manager) List(ctx context.Context) ([]Container, error) {
	insts, err := m.cfg.Incus.Instances(ctx, incus.InstanceQuery{Config: map[string]string{KeyManaged: "true", KeyOwner: m.owner()}})
	if err != nil {
		return nil, m.incusError("list containers", err)
	}
	out := make([]Container, 0, len(insts))
	for i := range insts {
		out = append(out, m.container(&insts[i]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Get returns one Kapsule container. An Incus instance that Kapsule does
// not manage is reported as not found (and left alone).
func (m *Manager) Get(ctx context.Context, name string) (Container, error) {
	inst, err := m.instance(ctx, name)
	if err != nil {
		return Container{}, err
	}
	return m.container(inst), nil
}

func (m *Manager) instance(ctx context.Context, name string) (*incus.Instance, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	cached, gen := m.cache[name], m.gen[name]
	m.mu.Unlock()
	if cached != nil {
		return cached, nil
	}
	inst, _, err := m.cfg.Incus.Instance(ctx, name)
	if errors.Is(err, incus.ErrNotFound) {
		return nil, fmt.Errorf("%w: no container %q (see 'kap list')", ErrNotFound, name)
	}
	if err != nil {
		return nil, m.incusError(fmt.Sprintf("get container %q", name), err)
	}
	if inst.Config[KeyManaged] != "true" {
		return nil, fmt.Errorf("%w: %q is an Incus instance that Kapsule does not manage; Kapsule leaves it alone", ErrNotFound, name)
	}
	if inst.Config[KeyOwner] != m.owner() {
		return nil, fmt.Errorf("%w: %q is another user's Kapsule container; Kapsule leaves it alone", ErrNotFound, name)
	}
	m.mu.Lock()
	if m.watching && m.gen[name] == gen {
		m.cache[name] = inst
	}
	m.mu.Unlock()
	return inst, nil
}

func (m *Manager) container(inst *incus.Instance) Container {
	c := Container{
		Name:       inst.Name,
		Status:     inst.Status,
		Running:    inst.Running(),
		Image:      inst.Config[KeyImage],
		Created:    inst.CreatedAt,
		Networking: inst.Config[KeyNetwork],
		Project:    inst.Project,
	}
	if c.Image == "" {
		c.Image = firstNonEmpty(inst.Config["image.description"], inst.Config["image.os"], "unknown")
	}
	if o, err := UnmarshalRecord(inst.Config[KeyOptions], DefaultOptions(c.Image)); err == nil {
		c.Options = o
	} else {
		c.Options = DefaultOptions(c.Image)
	}
	if uid, err := strconv.ParseUint(inst.Config[KeyOwner], 10, 32); err == nil {
		c.Owner = uint32(uid)
	}
	if inst.State != nil {
		c.StartedAt = inst.State.StartedAt
	}
	return c
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// incusError turns an Incus failure into a lifecycle error that says what
// failed and what to do.
func (m *Manager) incusError(what string, err error) error {
	switch {
	case errors.Is(err, incus.ErrUnavailable):
		return fmt.Errorf("%s: %w: %v", what, ErrUnavailable, err)
	case errors.Is(err, incus.ErrPermission):
		return fmt.Errorf("%s: %w: %v", what, ErrPermissionDenied, err)
	case errors.Is(err, incus.ErrForbidden):
		return fmt.Errorf("%s: %w: Incus refused: %v", what, ErrPermissionDenied, err)
	case errors.Is(err, incus.ErrNotFound):
		return fmt.Errorf("%s: %w: %v", what, ErrNotFound, err)
	case errors.Is(err, incus.ErrAlreadyExists):
		return fmt.Errorf("%s: %w: %v", what, ErrAlreadyExists, err)
	case errors.Is(err, incus.ErrDisconnected):
		return fmt.Errorf("%s: %w: %v", what, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// lowerFirst makes Incus's capitalised messages fit in our sentences.
func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
