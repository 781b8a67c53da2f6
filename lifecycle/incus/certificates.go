package incus

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
)

// Certificate is an entry of the server's trust store.
type Certificate struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"` // client, metrics
	Restricted  bool     `json:"restricted"`
	Projects    []string `json:"projects"`
	Certificate string   `json:"certificate"` // PEM
	Fingerprint string   `json:"fingerprint"`
	Description string   `json:"description"`
}

// TrustCertificate adds a client certificate (PEM) to the server's trust
// store under name. With projects given, the certificate is restricted to
// them.
func (c *Client) TrustCertificate(ctx context.Context, name string, certPEM []byte, projects ...string) error {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return errors.New("trust certificate: not a PEM certificate")
	}
	body := map[string]any{
		"name":        name,
		"type":        "client",
		"certificate": base64.StdEncoding.EncodeToString(block.Bytes),
		"restricted":  len(projects) > 0,
		"projects":    projects,
	}
	if _, err := c.query(ctx, request{method: http.MethodPost, path: apiPath("certificates"), body: body, global: true}, nil); err != nil {
		return fmt.Errorf("trust certificate %q: %w", name, err)
	}
	return nil
}

// Certificates lists the trust store.
func (c *Client) Certificates(ctx context.Context) ([]Certificate, error) {
	var certs []Certificate
	_, err := c.query(ctx, request{method: http.MethodGet, path: apiPath("certificates"), query: recursion(1), global: true}, &certs)
	if err != nil {
		return nil, fmt.Errorf("list certificates: %w", err)
	}
	return certs, nil
}

// DeleteCertificate removes a certificate from the trust store by its
// fingerprint.
func (c *Client) DeleteCertificate(ctx context.Context, fingerprint string) error {
	if _, err := c.query(ctx, request{method: http.MethodDelete, path: apiPath("certificates", fingerprint), global: true}, nil); err != nil {
		return fmt.Errorf("delete certificate %s: %w", fingerprint, err)
	}
	return nil
}
