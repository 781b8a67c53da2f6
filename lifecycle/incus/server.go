package incus

import (
	"context"
	"fmt"
	"net/http"
	"slices"
)

// Server is what GET /1.0 says about the server and about us.
type Server struct {
	APIExtensions  []string          `json:"api_extensions"`
	APIStatus      string            `json:"api_status"`
	APIVersion     string            `json:"api_version"`
	Auth           string            `json:"auth"` // "trusted" or "untrusted"
	AuthMethods    []string          `json:"auth_methods"`
	AuthUserName   string            `json:"auth_user_name"`
	AuthUserMethod string            `json:"auth_user_method"` // "unix", "tls", ...
	Public         bool              `json:"public"`
	Config         map[string]string `json:"config"`
	Environment    Environment       `json:"environment"`
}

// Environment describes the host Incus runs on.
type Environment struct {
	Addresses              []string          `json:"addresses"`
	Architectures          []string          `json:"architectures"`
	Certificate            string            `json:"certificate"` // PEM
	CertificateFingerprint string            `json:"certificate_fingerprint"`
	Driver                 string            `json:"driver"`
	DriverVersion          string            `json:"driver_version"`
	Firewall               string            `json:"firewall"`
	Kernel                 string            `json:"kernel"`
	KernelArchitecture     string            `json:"kernel_architecture"`
	KernelFeatures         map[string]string `json:"kernel_features"`
	KernelVersion          string            `json:"kernel_version"`
	LXCFeatures            map[string]string `json:"lxc_features"`
	OSName                 string            `json:"os_name"`
	OSVersion              string            `json:"os_version"`
	Project                string            `json:"project"`
	Server                 string            `json:"server"`
	ServerClustered        bool              `json:"server_clustered"`
	ServerName             string            `json:"server_name"`
	ServerPID              int               `json:"server_pid"`
	ServerVersion          string            `json:"server_version"`
	Storage                string            `json:"storage"`
	StorageVersion         string            `json:"storage_version"`
}

// HasExtension reports whether the server has an API extension.
func (s *Server) HasExtension(name string) bool {
	return slices.Contains(s.APIExtensions, name)
}

// Trusted reports whether the server trusts this client.
func (s *Server) Trusted() bool { return s.Auth == "trusted" }

// Server returns the server's description (in the client's project).
func (c *Client) Server(ctx context.Context) (*Server, error) {
	var s Server
	if _, err := c.query(ctx, request{method: http.MethodGet, path: "/1.0"}, &s); err != nil {
		return nil, fmt.Errorf("get server: %w", err)
	}
	return &s, nil
}

// PatchServerConfig sets server configuration keys (an empty value unsets
// the key) and leaves the others alone.
func (c *Client) PatchServerConfig(ctx context.Context, config map[string]string) error {
	body := map[string]any{"config": config}
	if _, err := c.query(ctx, request{method: http.MethodPatch, path: "/1.0", body: body}, nil); err != nil {
		return fmt.Errorf("update server config: %w", err)
	}
	return nil
}
