package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/godbus/dbus/v5/prop"

	interfaces "invent.kde.org/kapsule/kapsule/dbus-interfaces"
	"invent.kde.org/kapsule/kapsule/kapsulerc"
	"invent.kde.org/kapsule/kapsule/lifecycle"
)

// Containers is what the Manager needs from the container life cycle
// (*lifecycle.Manager).
type Containers interface {
	List(ctx context.Context) ([]lifecycle.Container, error)
	Get(ctx context.Context, name string) (lifecycle.Container, error)
	Defaults(ctx context.Context) lifecycle.Options
	Create(ctx context.Context, name, image string, raw map[string]any, r lifecycle.Reporter) error
	Start(ctx context.Context, name string, r lifecycle.Reporter) error
	Stop(ctx context.Context, name string, force bool, r lifecycle.Reporter) error
	Delete(ctx context.Context, name string, force bool, r lifecycle.Reporter) error
	Reset(ctx context.Context, name string, r lifecycle.Reporter) error
	PrepareExec(ctx context.Context, req lifecycle.ExecRequest) (lifecycle.ExecPlan, error)
}

// Updates is what the Manager needs from the update service.
type Updates interface {
	Sources(ctx context.Context) []UpdateSource
	Summaries() map[string]map[string]dbus.Variant
	List(container string) ([]UpdateRow, error)
	Status(ctx context.Context) map[string]dbus.Variant
	Check(ctx context.Context, containers []string, r lifecycle.Reporter) error
	Apply(ctx context.Context, container string, ids []string, r lifecycle.Reporter) error
}

// UpdateSource is one entry of ListUpdateSources: a(ssbss).
type UpdateSource struct {
	Container  string
	BusName    string
	PackageKit bool
	State      string
	Reason     string
}

// UpdateRow is one entry of ListUpdates: a(ssss).
type UpdateRow struct {
	PackageID string
	Installed string
	Severity  string
	Summary   string
}

// ContainerTuple is one entry of ListContainers: (sssss).
type ContainerTuple struct {
	Name, Status, Image, Created, Mode string
}

// EnterResult is PrepareEnter's reply: (bsas).
type EnterResult struct {
	Success bool
	Error   string
	Args    []string
}

// ManagerConfig wires the Manager object.
type ManagerConfig struct {
	Conn       *dbus.Conn
	Containers Containers
	Updates    Updates
	Operations *Operations
	Settings   func() *kapsulerc.Config
	Version    string
	// Socket and Project tell clients how to reach Incus for exec.
	Socket, Project string
	Log             *slog.Logger
	// CallTimeout bounds synchronous methods.
	CallTimeout time.Duration
}

// Manager is the org.kde.kapsule.Manager object at /org/kde/kapsule.
// Its exported methods are exactly the D-Bus methods of the interface
// (checked against dbus-interfaces/ by a test).
type Manager struct {
	cfg   ManagerConfig
	props *prop.Properties
}

// ExportManager exports the Manager object, its properties and its
// introspection data on cfg.Conn (before the service name is requested).
func ExportManager(cfg ManagerConfig) (*Manager, error) {
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 2 * time.Minute
	}
	m := &Manager{cfg: cfg}
	props, err := prop.Export(cfg.Conn, ManagerPath, prop.Map{ManagerInterface: {
		"Version": {Value: cfg.Version, Emit: prop.EmitConst},
	}})
	if err != nil {
		return nil, fmt.Errorf("export manager properties: %w", err)
	}
	m.props = props
	if err := exportStrict(cfg.Conn, m, ManagerPath, ManagerInterface, interfaces.Manager); err != nil {
		return nil, fmt.Errorf("export manager: %w", err)
	}
	node, err := parseNode(interfaces.Manager)
	if err != nil {
		return nil, err
	}
	node.Interfaces = append([]introspect.Interface{introspect.IntrospectData, prop.IntrospectData}, node.Interfaces...)
	node.Children = []introspect.Node{{Name: "operations"}}
	if err := cfg.Conn.Export(introspect.NewIntrospectable(node), ManagerPath, "org.freedesktop.DBus.Introspectable"); err != nil {
		return nil, fmt.Errorf("export manager introspection: %w", err)
	}
	return m, nil
}

// Emit sends one of the Manager's signals (used by the service).
func (m *Manager) emit(member string, args ...any) {
	if err := m.cfg.Conn.Emit(ManagerPath, ManagerInterface+"."+member, args...); err != nil {
		m.cfg.Log.Debug("emit failed", "signal", member, "error", err)
	}
}

func (m *Manager) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), m.cfg.CallTimeout)
}

func mode(c lifecycle.Container) string { return "Default" }

func tuple(c lifecycle.Container) ContainerTuple {
	created := ""
	if !c.Created.IsZero() {
		created = c.Created.Format(time.RFC3339Nano)
	}
	return ContainerTuple{Name: c.Name, Status: c.Status, Image: c.Image, Created: created, Mode: mode(c)}
}

// ListContainers implements the D-Bus method.
func (m *Manager) ListContainers() ([]ContainerTuple, *dbus.Error) {
	ctx, cancel := m.ctx()
	defer cancel()
	cs, err := m.cfg.Containers.List(ctx)
	if err != nil {
		return nil, DBusError(err)
	}
	out := make([]ContainerTuple, 0, len(cs))
	for _, c := range cs {
		out = append(out, tuple(c))
	}
	return out, nil
}

// GetContainerInfo implements the D-Bus method.
func (m *Manager) GetContainerInfo(name string) (ContainerTuple, *dbus.Error) {
	ctx, cancel := m.ctx()
	defer cancel()
	c, err := m.cfg.Containers.Get(ctx, name)
	if err != nil {
		return ContainerTuple{}, DBusError(err)
	}
	return tuple(c), nil
}

// GetContainerDetails implements the D-Bus method.
func (m *Manager) GetContainerDetails(name string) (map[string]dbus.Variant, *dbus.Error) {
	ctx, cancel := m.ctx()
	defer cancel()
	c, err := m.cfg.Containers.Get(ctx, name)
	if err != nil {
		return nil, DBusError(err)
	}
	t := tuple(c)
	opts := map[string]dbus.Variant{}
	for k, v := range c.Options.Map() {
		opts[k] = dbus.MakeVariant(v)
	}
	d := map[string]dbus.Variant{
		"name":       dbus.MakeVariant(t.Name),
		"status":     dbus.MakeVariant(t.Status),
		"image":      dbus.MakeVariant(t.Image),
		"created":    dbus.MakeVariant(t.Created),
		"mode":       dbus.MakeVariant(t.Mode),
		"networking": dbus.MakeVariant(c.Networking),
		"options":    dbus.MakeVariant(opts),
		"project":    dbus.MakeVariant(c.Project),
	}
	if bus, err := PackageKitBusName(c.Name); err == nil {
		d["bus_name"] = dbus.MakeVariant(bus)
	}
	if m.cfg.Updates != nil {
		for _, s := range m.cfg.Updates.Sources(ctx) {
			if s.Container == name {
				d["packagekit"] = dbus.MakeVariant(s.PackageKit)
				d["packagekit_reason"] = dbus.MakeVariant(s.Reason)
				d["update_source_state"] = dbus.MakeVariant(s.State)
			}
		}
	}
	return d, nil
}

// GetConfig implements the D-Bus method.
func (m *Manager) GetConfig() (map[string]string, *dbus.Error) {
	c := m.cfg.Settings()
	out := map[string]string{
		"default_container": c.Containers.DefaultContainer,
		"default_image":     c.Containers.DefaultImage,
	}
	for _, v := range c.Values {
		out[v.Group+"."+v.Key] = v.Value
	}
	return out, nil
}

// GetCreateSchema implements the D-Bus method.
func (m *Manager) GetCreateSchema() (string, *dbus.Error) {
	ctx, cancel := m.ctx()
	defer cancel()
	d := m.cfg.Containers.Defaults(ctx)
	s := lifecycle.CreateSchema(d.Image)
	// Defaults follow what this server allows.
	dm := d.Map()
	for i := range s.Sections {
		for j := range s.Sections[i].Options {
			o := &s.Sections[i].Options[j]
			if v, ok := dm[o.Key]; ok {
				o.Default = v
			}
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", DBusError(err)
	}
	return string(b), nil
}

// CreateContainer implements the D-Bus method. Bad names and options are
// refused at once; the rest happens in the returned operation.
func (m *Manager) CreateContainer(name, image string, options map[string]dbus.Variant) (dbus.ObjectPath, *dbus.Error) {
	if err := lifecycle.ValidateName(name); err != nil {
		return "", DBusError(err)
	}
	raw := unwrap(options)
	ctx, cancel := m.ctx()
	defer cancel()
	base := m.cfg.Containers.Defaults(ctx)
	if image != "" {
		base.Image = image
	}
	if _, err := lifecycle.ParseOptions(base, raw); err != nil {
		return "", DBusError(err)
	}
	return m.start("create", "Creating container: "+name, name, func(ctx context.Context, r lifecycle.Reporter) error {
		err := m.cfg.Containers.Create(ctx, name, image, raw, r)
		if err == nil {
			m.emit("ContainersChanged")
		}
		return err
	})
}

// StartContainer implements the D-Bus method.
func (m *Manager) StartContainer(name string) (dbus.ObjectPath, *dbus.Error) {
	return m.containerOp("start", "Starting container: ", name, func(ctx context.Context, r lifecycle.Reporter) error {
		return m.cfg.Containers.Start(ctx, name, r)
	})
}

// StopContainer implements the D-Bus method.
func (m *Manager) StopContainer(name string, force bool) (dbus.ObjectPath, *dbus.Error) {
	return m.containerOp("stop", "Stopping container: ", name, func(ctx context.Context, r lifecycle.Reporter) error {
		return m.cfg.Containers.Stop(ctx, name, force, r)
	})
}

// DeleteContainer implements the D-Bus method. A running container
// without force is refused at once (org.kde.kapsule.Error.Running).
func (m *Manager) DeleteContainer(name string, force bool) (dbus.ObjectPath, *dbus.Error) {
	if !force {
		ctx, cancel := m.ctx()
		c, err := m.cfg.Containers.Get(ctx, name)
		cancel()
		if err != nil {
			return "", DBusError(err)
		}
		if c.Running {
			return "", DBusError(fmt.Errorf("%w: stop %s first, or delete it with force", lifecycle.ErrRunning, name))
		}
	}
	return m.containerOp("delete", "Deleting container: ", name, func(ctx context.Context, r lifecycle.Reporter) error {
		return m.cfg.Containers.Delete(ctx, name, force, r)
	})
}

// ResetContainer implements the D-Bus method.
func (m *Manager) ResetContainer(name string) (dbus.ObjectPath, *dbus.Error) {
	if err := lifecycle.ValidateName(name); err != nil {
		return "", DBusError(err)
	}
	return m.start("reset", "Resetting container: "+name, name, func(ctx context.Context, r lifecycle.Reporter) error {
		err := m.cfg.Containers.Reset(ctx, name, r)
		m.emit("ContainersChanged")
		return err
	})
}

func (m *Manager) containerOp(typ, desc, name string, fn OperationFunc) (dbus.ObjectPath, *dbus.Error) {
	ctx, cancel := m.ctx()
	defer cancel()
	if _, err := m.cfg.Containers.Get(ctx, name); err != nil {
		return "", DBusError(err)
	}
	return m.start(typ, desc+name, name, func(ctx context.Context, r lifecycle.Reporter) error {
		err := fn(ctx, r)
		if err == nil {
			m.emit("ContainersChanged")
		}
		return err
	})
}

func (m *Manager) start(typ, desc, target string, fn OperationFunc) (dbus.ObjectPath, *dbus.Error) {
	p, err := m.cfg.Operations.Start(typ, desc, target, fn)
	if err != nil {
		return "", DBusError(err)
	}
	return p, nil
}

// PrepareEnter implements the D-Bus method of the earlier daemon: it
// returns an `incus exec` command line, using the caller's environment
// (read from /proc, the caller being the same user).
func (m *Manager) PrepareEnter(sender dbus.Sender, container string, command []string, cwd string) (EnterResult, *dbus.Error) {
	env := m.callerEnv(sender)
	plan, err := m.prepare(container, command, cwd, env)
	if err != nil {
		return EnterResult{Success: false, Error: err.Error(), Args: []string{}}, nil
	}
	return EnterResult{Success: true, Args: lifecycle.IncusExecArgs(plan, true)}, nil
}

// PrepareExec implements the D-Bus method.
func (m *Manager) PrepareExec(container string, command []string, cwd string, environment map[string]string) (string, map[string]dbus.Variant, *dbus.Error) {
	plan, err := m.prepare(container, command, cwd, environment)
	if err != nil {
		return "", nil, DBusError(err)
	}
	if plan.Env == nil {
		plan.Env = map[string]string{}
	}
	return plan.Container, map[string]dbus.Variant{
		"socket":      dbus.MakeVariant(m.cfg.Socket),
		"project":     dbus.MakeVariant(m.cfg.Project),
		"command":     dbus.MakeVariant(plan.Command),
		"user":        dbus.MakeVariant(plan.UID),
		"group":       dbus.MakeVariant(plan.GID),
		"cwd":         dbus.MakeVariant(plan.Cwd),
		"environment": dbus.MakeVariant(plan.Env),
	}, nil
}

func (m *Manager) prepare(container string, command []string, cwd string, env map[string]string) (lifecycle.ExecPlan, error) {
	if container != "" {
		if err := lifecycle.ValidateName(container); err != nil {
			return lifecycle.ExecPlan{}, err
		}
	}
	ctx, cancel := m.ctx()
	defer cancel()
	return m.cfg.Containers.PrepareExec(ctx, lifecycle.ExecRequest{Container: container, Command: command, Cwd: cwd, Env: env})
}

// callerEnv reads the calling process's environment.
func (m *Manager) callerEnv(sender dbus.Sender) map[string]string {
	var pid uint32
	err := m.cfg.Conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixProcessID", 0, string(sender)).Store(&pid)
	if err != nil || pid == 0 {
		return map[string]string{}
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return map[string]string{}
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(data), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			env[k] = v
		}
	}
	return env
}

// ListUpdateSources implements the D-Bus method.
func (m *Manager) ListUpdateSources() ([]UpdateSource, *dbus.Error) {
	if m.cfg.Updates == nil {
		return []UpdateSource{}, nil
	}
	ctx, cancel := m.ctx()
	defer cancel()
	s := m.cfg.Updates.Sources(ctx)
	if s == nil {
		s = []UpdateSource{}
	}
	return s, nil
}

// GetUpdateSummaries implements the D-Bus method.
func (m *Manager) GetUpdateSummaries() (map[string]map[string]dbus.Variant, *dbus.Error) {
	if m.cfg.Updates == nil {
		return map[string]map[string]dbus.Variant{}, nil
	}
	return m.cfg.Updates.Summaries(), nil
}

// ListUpdates implements the D-Bus method.
func (m *Manager) ListUpdates(container string) ([]UpdateRow, *dbus.Error) {
	if m.cfg.Updates == nil {
		return nil, DBusError(fmt.Errorf("%w: updates are not available", lifecycle.ErrUnsupported))
	}
	rows, err := m.cfg.Updates.List(container)
	if err != nil {
		return nil, DBusError(err)
	}
	if rows == nil {
		rows = []UpdateRow{}
	}
	return rows, nil
}

// GetUpdateStatus implements the D-Bus method.
func (m *Manager) GetUpdateStatus() (map[string]dbus.Variant, *dbus.Error) {
	if m.cfg.Updates == nil {
		return map[string]dbus.Variant{}, nil
	}
	ctx, cancel := m.ctx()
	defer cancel()
	return m.cfg.Updates.Status(ctx), nil
}

// CheckUpdates implements the D-Bus method.
func (m *Manager) CheckUpdates(containers []string) (dbus.ObjectPath, *dbus.Error) {
	if m.cfg.Updates == nil {
		return "", DBusError(fmt.Errorf("%w: updates are not available", lifecycle.ErrUnsupported))
	}
	for _, c := range containers {
		if err := m.exists(c); err != nil {
			return "", DBusError(err)
		}
	}
	target := strings.Join(containers, ",")
	return m.start("check-updates", "Checking for updates", target, func(ctx context.Context, r lifecycle.Reporter) error {
		return m.cfg.Updates.Check(ctx, containers, r)
	})
}

// exists refuses a bad name or a container that does not exist, at once:
// an update operation on it would only wait for an update source that
// never comes.
func (m *Manager) exists(name string) error {
	if err := lifecycle.ValidateName(name); err != nil {
		return err
	}
	if m.cfg.Containers == nil {
		return nil
	}
	ctx, cancel := m.ctx()
	defer cancel()
	_, err := m.cfg.Containers.Get(ctx, name)
	return err
}

// ApplyUpdates implements the D-Bus method.
func (m *Manager) ApplyUpdates(container string, packageIDs []string) (dbus.ObjectPath, *dbus.Error) {
	if m.cfg.Updates == nil {
		return "", DBusError(fmt.Errorf("%w: updates are not available", lifecycle.ErrUnsupported))
	}
	if err := m.exists(container); err != nil {
		return "", DBusError(err)
	}
	return m.start("apply-updates", "Applying updates: "+container, container, func(ctx context.Context, r lifecycle.Reporter) error {
		return m.cfg.Updates.Apply(ctx, container, packageIDs, r)
	})
}

// unwrap turns a{sv} into plain values, unwrapping nested variants.
func unwrap(in map[string]dbus.Variant) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		out[k] = unwrapValue(v.Value())
	}
	return out
}

func unwrapValue(v any) any {
	switch x := v.(type) {
	case dbus.Variant:
		return unwrapValue(x.Value())
	case []dbus.Variant:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = unwrapValue(e.Value())
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = unwrapValue(e)
		}
		return out
	}
	return v
}
