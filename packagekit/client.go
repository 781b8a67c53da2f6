package packagekit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// D-Bus names of PackageKit.
const (
	// DefaultDestination is PackageKit's well-known name on the system bus.
	DefaultDestination = "org.freedesktop.PackageKit"
	// DaemonPath is the object path of the daemon.
	DaemonPath dbus.ObjectPath = "/org/freedesktop/PackageKit"
	// DaemonInterface is the daemon's interface.
	DaemonInterface = "org.freedesktop.PackageKit"
	// TransactionInterface is the interface of transaction objects.
	TransactionInterface = "org.freedesktop.PackageKit.Transaction"
)

// cancelTimeout bounds the Cancel call sent when a Run's context ends, so
// that Run returns promptly even when the daemon does not answer.
const cancelTimeout = 2 * time.Second

// Client talks to one PackageKit daemon, reached as a destination name on a
// D-Bus connection. It is safe for concurrent use; transactions of one Client
// run concurrently (PackageKit queues them).
//
// A Client owns one dispatcher goroutine, started by NewClient, which routes
// the connection's signals to transactions by object path. It stops when
// Close is called or the connection closes; then every running transaction
// fails with ErrClosed or ErrDisconnected.
type Client struct {
	conn     *dbus.Conn
	dest     string
	daemon   dbus.BusObject
	log      *slog.Logger
	ownsConn bool

	sigs chan *dbus.Signal
	quit chan struct{} // closed by Close
	done chan struct{} // closed when the dispatcher has returned

	mu       sync.Mutex
	owner    string        // unique name owning dest, "" when none
	ownerSeq dbus.Sequence // NameOwnerChanged signals before this are stale
	lostSeq  dbus.Sequence // the last NameOwnerChanged that took the name from an owner
	txs      map[dbus.ObjectPath]*inbox
	err      error // why the dispatcher stopped; nil while it runs

	closeOnce sync.Once
	closeErr  error
}

// Option configures a Client.
type Option func(*Client)

// WithLogger sets the logger for debug messages (dropped signals, failed
// clean-ups). The default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) { c.log = l }
}

// signalBuffer is the capacity of the dispatcher's signal channel. godbus
// delivers to a full channel from a new goroutine, which can reorder
// signals; the dispatcher only appends to queues, so a large buffer keeps
// that from happening even under bursts of Package signals.
const signalBuffer = 4096

// NewClient returns a Client for the PackageKit owning dest (usually
// DefaultDestination; Kapsule's per-container names work the same) on conn.
// conn must be connected and authenticated (Hello done). Close releases the
// Client; it closes conn only when the Client was made by Dial.
func NewClient(ctx context.Context, conn *dbus.Conn, dest string, opts ...Option) (*Client, error) {
	if dest == "" {
		return nil, fmt.Errorf("packagekit client: %w: empty destination name", ErrInvalidInput)
	}
	c := &Client{
		conn:   conn,
		dest:   dest,
		daemon: conn.Object(dest, DaemonPath),
		log:    slog.New(slog.DiscardHandler),
		sigs:   make(chan *dbus.Signal, signalBuffer),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		txs:    make(map[dbus.ObjectPath]*inbox),
	}
	for _, o := range opts {
		o(c)
	}
	conn.Signal(c.sigs)
	if err := conn.AddMatchSignalContext(ctx, c.ownerMatch()...); err != nil {
		conn.RemoveSignal(c.sigs)
		return nil, fmt.Errorf("packagekit client for %s: watch name owner: %w", dest, err)
	}
	call := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.GetNameOwner", 0, dest)
	var owner string
	if err := call.Store(&owner); err != nil {
		var de dbus.Error
		if !errors.As(err, &de) || de.Name != "org.freedesktop.DBus.Error.NameHasNoOwner" {
			c.removeMatch(c.ownerMatch())
			conn.RemoveSignal(c.sigs)
			return nil, fmt.Errorf("packagekit client for %s: get name owner: %w", dest, err)
		}
	}
	c.owner, c.ownerSeq = owner, call.ResponseSequence
	go c.dispatch()
	return c, nil
}

// Destination returns the bus name the Client talks to.
func (c *Client) Destination() string { return c.dest }

// Conn returns the connection the Client uses.
func (c *Client) Conn() *dbus.Conn { return c.conn }

// Close stops the dispatcher, fails running transactions with ErrClosed and
// removes the Client's match rules; a Client made by Dial also closes its
// connection. Close is idempotent.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.conn.RemoveSignal(c.sigs)
		close(c.quit)
		<-c.done
		if c.ownsConn {
			c.closeErr = c.conn.Close()
			return
		}
		c.removeMatch(c.ownerMatch())
	})
	return c.closeErr
}

func (c *Client) ownerMatch() []dbus.MatchOption {
	return []dbus.MatchOption{
		dbus.WithMatchSender("org.freedesktop.DBus"),
		dbus.WithMatchInterface("org.freedesktop.DBus"),
		dbus.WithMatchMember("NameOwnerChanged"),
		dbus.WithMatchArg(0, c.dest),
	}
}

// removeMatch removes a match rule, bounded in time; failures only matter
// for the bus' bookkeeping and are logged.
func (c *Client) removeMatch(rule []dbus.MatchOption) {
	if !c.conn.Connected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cancelTimeout)
	defer cancel()
	if err := c.conn.RemoveMatchSignalContext(ctx, rule...); err != nil {
		c.log.Debug("remove match rule", "destination", c.dest, "error", err)
	}
}

// DaemonProperties are the properties of the daemon object.
type DaemonProperties struct {
	VersionMajor uint32
	VersionMinor uint32
	VersionMicro uint32

	BackendName        string // e.g. "apt", "dnf"
	BackendDescription string
	BackendAuthor      string
	Roles              Roles    // actions the backend supports
	Filters            Filters  // filters the backend understands
	Groups             Groups   // groups the backend knows
	MimeTypes          []string // file types InstallFiles accepts
	Locked             bool     // the backend holds the package manager's lock
	NetworkState       Network
	DistroID           string // "distro;version;arch", e.g. "debian;12;x86_64"
}

// Version returns "major.minor.micro".
func (p *DaemonProperties) Version() string {
	return fmt.Sprintf("%d.%d.%d", p.VersionMajor, p.VersionMinor, p.VersionMicro)
}

// Properties reads the daemon's properties (one GetAll call; it starts the
// daemon if it is not running).
func (c *Client) Properties(ctx context.Context) (*DaemonProperties, error) {
	var all map[string]dbus.Variant
	err := c.daemon.CallWithContext(ctx, "org.freedesktop.DBus.Properties.GetAll", 0, DaemonInterface).Store(&all)
	if err != nil {
		return nil, callError(c.conn, "GetAll", DaemonPath, err)
	}
	var p DaemonProperties
	var roles, filters, groups uint64
	var network uint32
	fields := map[string]any{
		"VersionMajor": &p.VersionMajor, "VersionMinor": &p.VersionMinor, "VersionMicro": &p.VersionMicro,
		"BackendName": &p.BackendName, "BackendDescription": &p.BackendDescription,
		"BackendAuthor": &p.BackendAuthor, "Roles": &roles, "Filters": &filters, "Groups": &groups,
		"MimeTypes": &p.MimeTypes, "Locked": &p.Locked, "NetworkState": &network, "DistroId": &p.DistroID,
	}
	for name, dst := range fields {
		v, ok := all[name]
		if !ok {
			continue // an older daemon; leave the zero value
		}
		if err := v.Store(dst); err != nil {
			return nil, fmt.Errorf("packagekit daemon property %s: %w", name, err)
		}
	}
	p.Roles, p.Filters, p.Groups, p.NetworkState = Roles(roles), Filters(filters), Groups(groups), Network(network)
	return &p, nil
}

// GetTransactionList returns the paths of the daemon's unfinished
// transactions, of all callers.
func (c *Client) GetTransactionList(ctx context.Context) ([]dbus.ObjectPath, error) {
	var paths []dbus.ObjectPath
	err := c.daemon.CallWithContext(ctx, DaemonInterface+".GetTransactionList", 0).Store(&paths)
	if err != nil {
		return nil, callError(c.conn, "GetTransactionList", DaemonPath, err)
	}
	return paths, nil
}

// CanAuthorize asks whether the caller may perform a polkit action such as
// "org.freedesktop.packagekit.package-install".
func (c *Client) CanAuthorize(ctx context.Context, actionID string) (Authorize, error) {
	var res uint32
	err := c.daemon.CallWithContext(ctx, DaemonInterface+".CanAuthorize", 0, actionID).Store(&res)
	if err != nil {
		return AuthorizeUnknown, callError(c.conn, "CanAuthorize", DaemonPath, err)
	}
	return Authorize(res), nil
}

// GetTimeSinceAction returns the time since the last successful transaction
// of the role, e.g. RoleRefreshCache.
func (c *Client) GetTimeSinceAction(ctx context.Context, role Role) (time.Duration, error) {
	var secs uint32
	err := c.daemon.CallWithContext(ctx, DaemonInterface+".GetTimeSinceAction", 0, uint32(role)).Store(&secs)
	if err != nil {
		return 0, callError(c.conn, "GetTimeSinceAction", DaemonPath, err)
	}
	return time.Duration(secs) * time.Second, nil
}
