package incus

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// InstancePut is the writable part of an instance (PUT replaces all of it).
type InstancePut struct {
	Architecture string                       `json:"architecture"`
	Config       map[string]string            `json:"config"`
	Devices      map[string]map[string]string `json:"devices"`
	Ephemeral    bool                         `json:"ephemeral"`
	Profiles     []string                     `json:"profiles"`
	Stateful     bool                         `json:"stateful"`
	Description  string                       `json:"description"`
}

// Instance is an Incus instance (Kapsule's containers).
type Instance struct {
	InstancePut
	Name            string                       `json:"name"`
	Type            string                       `json:"type"`   // container, virtual-machine
	Status          string                       `json:"status"` // Running, Stopped, Frozen, Error
	StatusCode      StatusCode                   `json:"status_code"`
	CreatedAt       time.Time                    `json:"created_at"`
	LastUsedAt      time.Time                    `json:"last_used_at"`
	Location        string                       `json:"location"`
	Project         string                       `json:"project"`
	ExpandedConfig  map[string]string            `json:"expanded_config"`
	ExpandedDevices map[string]map[string]string `json:"expanded_devices"`
	// State is filled by Instances with InstanceQuery.WithState.
	State *InstanceState `json:"state,omitempty"`
}

// Running reports whether the instance is running.
func (i *Instance) Running() bool { return i.StatusCode == StatusRunning }

// InstanceState is an instance's runtime state.
type InstanceState struct {
	Status     string     `json:"status"`
	StatusCode StatusCode `json:"status_code"`
	PID        int64      `json:"pid"`
	Processes  int64      `json:"processes"`
	CPU        struct {
		Usage int64 `json:"usage"` // ns
	} `json:"cpu"`
	Memory struct {
		Usage     int64 `json:"usage"`
		UsagePeak int64 `json:"usage_peak"`
	} `json:"memory"`
	Network   map[string]InstanceNetwork `json:"network"`
	StartedAt time.Time                  `json:"started_at"`
}

// InstanceNetwork is one network interface of a running instance.
type InstanceNetwork struct {
	Addresses []InstanceAddress `json:"addresses"`
	HostName  string            `json:"host_name"`
	Hwaddr    string            `json:"hwaddr"`
	MTU       int               `json:"mtu"`
	State     string            `json:"state"`
	Type      string            `json:"type"`
}

// InstanceAddress is an address of an instance's interface.
type InstanceAddress struct {
	Family  string `json:"family"` // inet, inet6
	Address string `json:"address"`
	Netmask string `json:"netmask"`
	Scope   string `json:"scope"`
}

// InstanceSource says what a new instance is made from.
type InstanceSource struct {
	Type        string            `json:"type"` // image, none, copy
	Alias       string            `json:"alias,omitempty"`
	Fingerprint string            `json:"fingerprint,omitempty"`
	Properties  map[string]string `json:"properties,omitempty"`
	Server      string            `json:"server,omitempty"`   // remote image server URL
	Protocol    string            `json:"protocol,omitempty"` // simplestreams, incus
	Mode        string            `json:"mode,omitempty"`     // pull
	Certificate string            `json:"certificate,omitempty"`
	Secret      string            `json:"secret,omitempty"`
	Project     string            `json:"project,omitempty"`
}

// LocalImage is the source for an image in the server's own store.
func LocalImage(alias string) InstanceSource {
	return InstanceSource{Type: "image", Alias: alias}
}

// SimplestreamsImage is the source for an image the server pulls from a
// simplestreams image server (e.g. https://images.linuxcontainers.org,
// alias "debian/12").
func SimplestreamsImage(server, alias string) InstanceSource {
	return InstanceSource{Type: "image", Alias: alias, Server: server, Protocol: "simplestreams", Mode: "pull"}
}

// InstancesPost is a request to create an instance.
type InstancesPost struct {
	Name    string                       `json:"name"`
	Type    string                       `json:"type,omitempty"` // default "container"
	Source  InstanceSource               `json:"source"`
	Config  map[string]string            `json:"config,omitempty"`
	Devices map[string]map[string]string `json:"devices,omitempty"`
	// Profiles: nil gives the server's ["default"]; an empty, non-nil
	// slice gives none.
	Profiles     []string `json:"profiles,omitzero"`
	Ephemeral    bool     `json:"ephemeral,omitempty"`
	Description  string   `json:"description,omitempty"`
	Architecture string   `json:"architecture,omitempty"`
	// Start starts the instance once created.
	Start bool `json:"start,omitempty"`
}

// InstancePatch is a partial update: given config keys are set (an empty
// value unsets most keys), given devices replace same-named ones; nothing
// else changes. Incus cannot remove a device by PATCH: use UpdateInstance.
type InstancePatch struct {
	Config      map[string]string            `json:"config,omitempty"`
	Devices     map[string]map[string]string `json:"devices,omitempty"`
	Profiles    []string                     `json:"profiles,omitzero"`
	Description *string                      `json:"description,omitempty"`
}

// InstanceQuery selects instances to list.
type InstanceQuery struct {
	// WithState adds each instance's runtime state (recursion=2; costs the
	// server more).
	WithState bool
	// Config keeps instances whose config has these exact values (e.g.
	// "user.kapsule.managed": "true").
	Config map[string]string
	// ConfigPrefix keeps instances with at least one config key with this
	// prefix (e.g. "user.kapsule.").
	ConfigPrefix string
	// AllProjects lists every project's instances (not for restricted
	// users).
	AllProjects bool
}

func recursion(n int) url.Values {
	return url.Values{"recursion": {strconv.Itoa(n)}}
}

// Instances lists instances in the client's project.
func (c *Client) Instances(ctx context.Context, q InstanceQuery) ([]Instance, error) {
	query := recursion(1)
	if q.WithState {
		query = recursion(2)
	}
	if q.AllProjects {
		query.Set("all-projects", "true")
	}
	// The server filters what it can: Incus 6.0's filter parser takes no
	// quoted values, so values with spaces or quotes are only checked here.
	var clauses []string
	for _, k := range slices.Sorted(maps.Keys(q.Config)) {
		v := q.Config[k]
		if v != "" && !strings.ContainsAny(k+v, " \t\"'") {
			clauses = append(clauses, fmt.Sprintf("config.%s eq %s", k, v))
		}
	}
	if len(clauses) > 0 {
		query.Set("filter", strings.Join(clauses, " and "))
	}
	var all []Instance
	if _, err := c.query(ctx, request{method: http.MethodGet, path: apiPath("instances"), query: query}, &all); err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	out := all[:0]
	for _, inst := range all {
		if q.matches(&inst) {
			out = append(out, inst)
		}
	}
	return out, nil
}

func (q InstanceQuery) matches(inst *Instance) bool {
	for k, v := range q.Config {
		if inst.Config[k] != v {
			return false
		}
	}
	if q.ConfigPrefix == "" {
		return true
	}
	for k := range inst.Config {
		if strings.HasPrefix(k, q.ConfigPrefix) {
			return true
		}
	}
	return false
}

// Instance returns an instance and its ETag (for UpdateInstance).
func (c *Client) Instance(ctx context.Context, name string) (*Instance, string, error) {
	var inst Instance
	etag, err := c.query(ctx, request{method: http.MethodGet, path: apiPath("instances", name)}, &inst)
	if err != nil {
		return nil, "", fmt.Errorf("get instance %q: %w", name, err)
	}
	return &inst, etag, nil
}

// InstanceState returns a running instance's runtime state.
func (c *Client) InstanceState(ctx context.Context, name string) (*InstanceState, error) {
	var st InstanceState
	if _, err := c.query(ctx, request{method: http.MethodGet, path: apiPath("instances", name, "state")}, &st); err != nil {
		return nil, fmt.Errorf("get state of instance %q: %w", name, err)
	}
	return &st, nil
}

// CreateInstance starts creating an instance.
func (c *Client) CreateInstance(ctx context.Context, req InstancesPost) (*Op, error) {
	what := fmt.Sprintf("create instance %q", req.Name)
	op, err := c.async(ctx, request{method: http.MethodPost, path: apiPath("instances"), body: req}, what)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return op, nil
}

// UpdateInstance replaces an instance's writable fields. With etag (from
// Instance) set, Incus refuses the update with ErrPreconditionFailed when
// the instance changed since.
func (c *Client) UpdateInstance(ctx context.Context, name string, put InstancePut, etag string) (*Op, error) {
	what := fmt.Sprintf("update instance %q", name)
	op, err := c.async(ctx, request{method: http.MethodPut, path: apiPath("instances", name), body: put, etag: etag}, what)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return op, nil
}

// PatchInstance applies a partial update (synchronous).
func (c *Client) PatchInstance(ctx context.Context, name string, patch InstancePatch) error {
	if _, err := c.query(ctx, request{method: http.MethodPatch, path: apiPath("instances", name), body: patch}, nil); err != nil {
		return fmt.Errorf("patch instance %q: %w", name, err)
	}
	return nil
}

// DeleteInstance starts deleting a stopped instance.
func (c *Client) DeleteInstance(ctx context.Context, name string) (*Op, error) {
	what := fmt.Sprintf("delete instance %q", name)
	op, err := c.async(ctx, request{method: http.MethodDelete, path: apiPath("instances", name)}, what)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return op, nil
}
