// Package incus is Kapsule's client for the Incus REST API: instances,
// their state, exec (with websockets), files, images, operations and
// events. It speaks to the local daemon over its unix socket, or to a
// remote server or cluster over HTTPS with a TLS client certificate,
// through the same code.
//
// It is the only code in Kapsule that speaks HTTP to Incus. Errors from
// Incus become *Error values that match the package's sentinel errors
// with errors.Is; a daemon that is not running or a socket the user may not
// open become ErrUnavailable and ErrPermission with a message that says
// what to do.
package incus

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// Client talks to one Incus server. It is safe for concurrent use; it keeps
// HTTP connections alive between calls.
type Client struct {
	httpBase string // "http://unix.socket" or "https://host:port"
	wsBase   string // "ws://unix.socket" or "wss://host:port"
	project  string

	http *http.Client
	ws   *websocket.Dialer
}

// Option configures a Client.
type Option func(*Client)

// WithProject makes every project-scoped request carry ?project=name
// (e.g. "user-1000" on the incus-user socket). The default is the server's
// default project.
func WithProject(name string) Option {
	return func(c *Client) { c.project = name }
}

// NewUnix returns a client for the Incus daemon listening on socketPath.
// Nothing is dialled until the first call.
func NewUnix(socketPath string, opts ...Option) *Client {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", socketPath)
		if err != nil && ctx.Err() == nil {
			return nil, unixDialError(socketPath, err)
		}
		return conn, err
	}
	tr := &http.Transport{
		DialContext:         dial,
		MaxIdleConns:        16,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	c := &Client{
		httpBase: "http://unix.socket",
		wsBase:   "ws://unix.socket",
		http:     &http.Client{Transport: tr},
		ws: &websocket.Dialer{
			NetDialContext:   dial,
			HandshakeTimeout: 30 * time.Second,
			ReadBufferSize:   64 << 10,
			WriteBufferSize:  64 << 10,
		},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// NewRemote returns a client for the Incus server at baseURL
// ("https://host:8443"), authenticating with the client certificate in
// tlsConf and verifying the server against it (RootCAs, ServerName).
func NewRemote(baseURL string, tlsConf *tls.Config, opts ...Option) *Client {
	base := strings.TrimRight(baseURL, "/")
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil && ctx.Err() == nil {
			return nil, remoteDialError(base, err)
		}
		return conn, err
	}
	tr := &http.Transport{
		DialContext:         dial,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: 30 * time.Second,
		MaxIdleConns:        16,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
	c := &Client{
		httpBase: base,
		wsBase:   "wss://" + strings.TrimPrefix(base, "https://"),
		http:     &http.Client{Transport: tr},
		ws: &websocket.Dialer{
			NetDialContext:   dial,
			TLSClientConfig:  tlsConf,
			HandshakeTimeout: 30 * time.Second,
			ReadBufferSize:   64 << 10,
			WriteBufferSize:  64 << 10,
		},
	}
	if strings.HasPrefix(base, "http://") {
		c.wsBase = "ws://" + strings.TrimPrefix(base, "http://")
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Project is the project the client's requests are scoped to ("" for the
// server's default).
func (c *Client) Project() string { return c.project }

// Close releases idle connections. Calls made after Close dial again.
func (c *Client) Close() {
	c.http.CloseIdleConnections()
}

// DefaultSocket is the admin socket the incus CLI would use: $INCUS_SOCKET,
// else unix.socket in $INCUS_DIR, else /run/incus/unix.socket when it
// exists, else /var/lib/incus/unix.socket.
func DefaultSocket() string {
	if p := os.Getenv("INCUS_SOCKET"); p != "" {
		return p
	}
	if d := os.Getenv("INCUS_DIR"); d != "" {
		return filepath.Join(d, "unix.socket")
	}
	if _, err := os.Stat("/run/incus/unix.socket"); err == nil {
		return "/run/incus/unix.socket"
	}
	return "/var/lib/incus/unix.socket"
}

// UserSocket is the incus-user socket beside DefaultSocket
// (unix.socket.user). Through it requests belong to the caller's
// "user-<uid>" project; pass WithProject accordingly.
func UserSocket() string {
	return filepath.Join(filepath.Dir(DefaultSocket()), "unix.socket.user")
}
