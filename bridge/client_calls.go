package bridge

import (
	"context"
	"fmt"

	"github.com/godbus/dbus/v5"
)

// ContainerRow is one entry of ListContainers.
type ContainerRow struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Image   string `json:"image"`
	Created string `json:"created"`
	Mode    string `json:"mode"`
}

// ListContainers lists Kapsule's containers.
func (c *Client) ListContainers(ctx context.Context) ([]ContainerRow, error) {
	var rows [][]any
	if err := c.Call(ctx, "ListContainers", []any{&rows}); err != nil {
		return nil, err
	}
	out := make([]ContainerRow, 0, len(rows))
	for _, r := range rows {
		if len(r) != 5 {
			return nil, fmt.Errorf("ListContainers: unexpected row %v", r)
		}
		out = append(out, ContainerRow{Name: str(r[0]), Status: str(r[1]), Image: str(r[2]), Created: str(r[3]), Mode: str(r[4])})
	}
	return out, nil
}

func str(v any) string { s, _ := v.(string); return s }

// ContainerDetails returns GetContainerDetails for a container.
func (c *Client) ContainerDetails(ctx context.Context, name string) (map[string]dbus.Variant, error) {
	var d map[string]dbus.Variant
	err := c.Call(ctx, "GetContainerDetails", []any{&d}, name)
	return d, err
}

// Config returns GetConfig.
func (c *Client) Config(ctx context.Context) (map[string]string, error) {
	var m map[string]string
	err := c.Call(ctx, "GetConfig", []any{&m})
	return m, err
}

// ExecSpec is what PrepareExec returns: how to run a command in a
// container through the Incus API.
type ExecSpec struct {
	Container string
	Socket    string
	Project   string
	Command   []string
	UID, GID  uint32
	Cwd       string
	Env       map[string]string
}

// PrepareExec asks kapsuled to get a container ready for a command.
func (c *Client) PrepareExec(ctx context.Context, container string, command []string, cwd string, env map[string]string) (ExecSpec, error) {
	var name string
	var d map[string]dbus.Variant
	if command == nil {
		command = []string{}
	}
	if err := c.Call(ctx, "PrepareExec", []any{&name, &d}, container, command, cwd, env); err != nil {
		return ExecSpec{}, err
	}
	s := ExecSpec{Container: name}
	var err error
	get := func(key string, dst any) {
		v, ok := d[key]
		if !ok {
			if err == nil {
				err = fmt.Errorf("PrepareExec: reply lacks %q", key)
			}
			return
		}
		if e := v.Store(dst); e != nil && err == nil {
			err = fmt.Errorf("PrepareExec: %q: %w", key, e)
		}
	}
	get("socket", &s.Socket)
	get("project", &s.Project)
	get("command", &s.Command)
	get("user", &s.UID)
	get("group", &s.GID)
	get("cwd", &s.Cwd)
	get("environment", &s.Env)
	return s, err
}
