package incus

import (
	"context"
	"fmt"
	"net/http"
)

// Profile is an Incus profile.
type Profile struct {
	Name        string                       `json:"name"`
	Description string                       `json:"description"`
	Config      map[string]string            `json:"config"`
	Devices     map[string]map[string]string `json:"devices"`
}

// Profile returns a profile of the client's project.
func (c *Client) Profile(ctx context.Context, name string) (*Profile, error) {
	var p Profile
	if _, err := c.query(ctx, request{method: http.MethodGet, path: apiPath("profiles", name)}, &p); err != nil {
		return nil, fmt.Errorf("get profile %q: %w", name, err)
	}
	return &p, nil
}

// Project is an Incus project.
type Project struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Config      map[string]string `json:"config"`
}

// Restricted reports whether the project restricts what its instances may
// do (incus-user's per-user projects do).
func (p *Project) Restricted() bool { return p.Config["restricted"] == "true" }

// GetProject returns a project (the client's own when name is "").
func (c *Client) GetProject(ctx context.Context, name string) (*Project, error) {
	if name == "" {
		name = c.project
	}
	if name == "" {
		name = "default"
	}
	var p Project
	if _, err := c.query(ctx, request{method: http.MethodGet, path: apiPath("projects", name), global: true}, &p); err != nil {
		return nil, fmt.Errorf("get project %q: %w", name, err)
	}
	return &p, nil
}
