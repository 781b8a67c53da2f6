package bridge

// The Forwarder exports a container's PackageKit on a host bus under a name
// of its own (protocols.md §B).
//
// Design choice: a raw, byte-level forwarder (protocols.md §B.5), not godbus
// with a re-typing step (§B.4). Reasons:
//
//   - Fidelity by construction. Bodies are copied as bytes under a rebuilt
//     header, with their byte order, so every signature survives unchanged:
//     the struct-typed Packages a(uss) and UpdateDetails
//     a(sasasasasasussuss) signals, variants holding structs, dict order,
//     and whatever a later PackageKit adds. Re-typing would have to rebuild
//     each decoded value from its signature, a second codec to get right.
//   - Order by construction. One goroutine reads each connection and queues
//     what it forwards, in arrival order, on the other connection's FIFO
//     queue, which is written out in order. With godbus every incoming call
//     is dispatched in a goroutine of its own, so order is only kept by
//     forwarding from interceptors and muting godbus' own dispatch; the raw
//     reader needs no such detour.
//   - Speed. Nothing is decoded but headers and the four bodies the policy
//     reads (SetHints as, InstallFiles tas, GetDetailsLocal and
//     GetFilesLocal as). godbus decodes every body, re-encodes it twice on
//     sending (once to count file descriptors) and writes each message with
//     its own system call; here a burst of signals leaves in one write.
//
// The price is a small D-Bus client (wire.go, wire_values.go, wireconn.go):
// SASL EXTERNAL, Hello, AddMatch, RequestName/ReleaseName, header parsing.
// Bodies are not validated here; both buses validate every message they
// route (the model xdg-dbus-proxy uses too). The tests check the codec
// against godbus and libdbus (dbus-monitor), and drive the forwarder with
// godbus clients, a godbus fake PackageKit and the real pkcon.
//
// Data flow: the session reader screens each call (policy.go), rewrites it
// (destination org.freedesktop.PackageKit, fresh serial) and queues it on
// the upstream writer, recording the client's name and serial under the new
// serial before the call can be answered. The upstream reader maps replies
// back and re-emits PackageKit's signals as broadcasts from the connection
// that owns the name; the session bus applies each client's match rules.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultForwarderDialTimeout bounds connecting to a container's bus when
// ForwarderConfig.DialTimeout is zero. It covers starting a stopped
// container; PackageKit clients wait 25 s for their first call.
const DefaultForwarderDialTimeout = 20 * time.Second

// ForwarderConfig holds a Forwarder's dependencies.
type ForwarderConfig struct {
	// SessionAddress is the D-Bus address of the bus on which Name is owned:
	// the user's session bus, or a private bus on which Name is
	// org.freedesktop.PackageKit itself. unix:path=, unix:abstract= and
	// tcp: addresses are understood.
	SessionAddress string
	// DialSession, when set, opens the connection to that bus instead of
	// SessionAddress.
	DialSession func(ctx context.Context) (io.ReadWriteCloser, error)
	// Name is the well-known name to own, e.g. from PackageKitBusName.
	Name string
	// Container names the container in errors and logs.
	Container string
	// Dial opens a connection to the container's system bus (for instance
	// systemd-stdio-bridge run in the container). It is called on the first
	// forwarded call and again after the link was lost. ctx is cancelled
	// when connecting takes longer than DialTimeout and when the link is
	// dropped, so the connection may be tied to it. Dial must return once
	// ctx is cancelled, and closing the connection must make a pending Read
	// return. A connection with a method Ping(ctx) error (incus.Stream) is
	// pinged while calls wait or transactions are open, and dropped when it
	// does not answer (see linkCheckEvery).
	Dial func(ctx context.Context) (io.ReadWriteCloser, error)
	// DialTimeout bounds Dial plus authentication and setup;
	// DefaultForwarderDialTimeout when zero.
	DialTimeout time.Duration
	// CheckPath, when set, vets each file name passed to InstallFiles,
	// GetDetailsLocal and GetFilesLocal, which PackageKit opens in the
	// container's filesystem. A non-nil error refuses the call with
	// org.freedesktop.PackageKit.Transaction.NoSuchFile and the error's text
	// as message, so say what to do, e.g. `"/tmp/x.deb" is not shared with
	// container "dev": put the file in your home directory`. It runs on the
	// session reader: keep it quick.
	CheckPath func(path string) error
	// Logger receives lifecycle events and refusals; nil discards them.
	Logger *slog.Logger
}

// Forwarder exports one container's PackageKit under one bus name.
//
// Every method, property and signal of PackageKit's D-Bus API passes through
// unchanged, with three exceptions: calls outside PackageKit's API are
// refused with org.freedesktop.DBus.Error.AccessDenied; frontend-socket=
// hints are removed from SetHints; file names are vetted by CheckPath.
// org.freedesktop.DBus.Peer is answered locally.
//
// The name stays owned while Run runs, whether or not the container is up.
// The container's bus is reached on the first call and the link is kept.
// Calls that cannot be delivered get an error at once:
// org.freedesktop.DBus.Error.NoServer when the container's bus cannot be
// reached (or the forwarder is stopping) and org.freedesktop.DBus.Error.NoReply
// when the link is lost before PackageKit answered. When the link is lost,
// or PackageKit leaves the container's bus, while transactions made through
// the Forwarder are open, the name is released and requested again, so that
// clients notice that the daemon went away (PackageKit-Qt's daemonQuit,
// packagekit-glib's "daemon disappeared").
type Forwarder struct {
	cfg          ForwarderConfig
	log          *slog.Logger
	ready        chan struct{}
	started      atomic.Bool
	lastActivity atomic.Int64
	bounceReq    chan struct{}
	machineID    func() string

	// Set by Run before any goroutine starts.
	runCtx context.Context
	sess   *wireConn
	wg     sync.WaitGroup

	mu       sync.Mutex
	up       *upstream           // current link; nil when none
	openTx   map[string]struct{} // transactions created through the link and not finished
	stopping bool
}

// upstream is one connection to the container's bus.
type upstream struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	conn    *wireConn              // set once authenticated
	ready   bool                   // Hello and match rules done: calls flow
	dead    bool                   // dropped; nothing more goes through it
	queued  []*message             // calls waiting for ready
	pending map[uint32]pendingCall // by upstream serial

	ping     func(context.Context) error // nil: the connection cannot be pinged
	checking bool                        // checkLink runs
}

// pendingCall is a forwarded call waiting for PackageKit's answer.
type pendingCall struct {
	client   string // unique name on the session bus
	serial   uint32 // the client's serial
	createTx bool
}

// NewForwarder checks cfg and returns a Forwarder; Run starts it.
func NewForwarder(cfg ForwarderConfig) (*Forwarder, error) {
	if cfg.SessionAddress == "" && cfg.DialSession == nil {
		return nil, errors.New("new forwarder: no SessionAddress nor DialSession")
	}
	if cfg.Dial == nil {
		return nil, errors.New("new forwarder: no Dial")
	}
	if err := checkBusName(cfg.Name); err != nil {
		return nil, fmt.Errorf("new forwarder: %w", err)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultForwarderDialTimeout
	}
	if cfg.Container == "" {
		cfg.Container = cfg.Name
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Forwarder{
		cfg:       cfg,
		log:       log.With("container", cfg.Container, "name", cfg.Name),
		ready:     make(chan struct{}),
		bounceReq: make(chan struct{}, 1),
		openTx:    map[string]struct{}{},
		machineID: sync.OnceValue(readMachineID),
	}, nil
}

// Ready is closed once the name is owned and calls are being answered.
func (f *Forwarder) Ready() <-chan struct{} { return f.ready }

// Connected reports whether the link to the container's bus is up.
func (f *Forwarder) Connected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.up != nil && f.up.ready
}

// Busy reports whether calls are waiting for PackageKit or transactions
// created through the Forwarder are still open. An owner that started the
// container on demand should not stop it while Busy.
func (f *Forwarder) Busy() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.openTx) > 0 || f.up != nil && (len(f.up.pending) > 0 || len(f.up.queued) > 0)
}

// LastActivity is when a call, reply or signal last went through; zero if
// none did.
func (f *Forwarder) LastActivity() time.Time {
	ns := f.lastActivity.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func (f *Forwarder) touch() { f.lastActivity.Store(time.Now().UnixNano()) }

// Disconnect drops the link to the container's bus, for instance before the
// container is stopped. Pending calls fail at once; if transactions were
// open the name is bounced. The next call connects again.
func (f *Forwarder) Disconnect() {
	f.mu.Lock()
	up := f.up
	f.mu.Unlock()
	if up != nil {
		f.dropUpstream(up, fmt.Errorf("link to container %q dropped by Kapsule", f.cfg.Container), errNameNoReply)
	}
}

// Run owns the name and forwards until ctx is cancelled; then it fails what
// is pending, releases the name and closes both connections. It fails when
// the name is owned by someone else or the bus connection is lost.
func (f *Forwarder) Run(ctx context.Context) error {
	if !f.started.CompareAndSwap(false, true) {
		return errors.New("forwarder: Run called twice")
	}
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	f.runCtx = runCtx

	sess, err := f.openSession(runCtx)
	if err != nil {
		return err
	}
	f.sess = sess
	sessDone := make(chan struct{})
	var sessErr error
	f.wg.Go(func() {
		sessErr = sess.readLoop(f.handleSession, f.sessionIdle)
		close(sessDone)
	})

	err = sess.hello(runCtx)
	if err == nil {
		err = f.requestName(runCtx)
	}
	named := err == nil
	if named {
		close(f.ready)
		f.log.Info("forwarding PackageKit", "unique_name", sess.unique)
		err = f.serve(runCtx, sessDone, &sessErr)
	}
	f.shutdown(named)
	cancelRun()
	f.wg.Wait()
	return err
}

func (f *Forwarder) openSession(ctx context.Context) (*wireConn, error) {
	var rwc io.ReadWriteCloser
	var err error
	if f.cfg.DialSession != nil {
		rwc, err = f.cfg.DialSession(ctx)
	} else {
		rwc, err = dialBusAddress(ctx, f.cfg.SessionAddress)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to bus for %q: %w", f.cfg.Name, err)
	}
	c, err := openWireConn(ctx, rwc)
	if err != nil {
		return nil, fmt.Errorf("connect to bus for %q: %w", f.cfg.Name, err)
	}
	return c, nil
}

// serve waits for the end while bouncing the name on request.
func (f *Forwarder) serve(ctx context.Context, sessDone <-chan struct{}, sessErr *error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sessDone:
			return fmt.Errorf("forward PackageKit of container %q: bus connection lost: %w", f.cfg.Container, *sessErr)
		case <-f.bounceReq:
			if err := f.bounceName(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("forward PackageKit of container %q: %w", f.cfg.Container, err)
			}
		}
	}
}

// shutdown fails pending calls, drops the link, releases the name (when
// still owned) and closes the bus connection.
func (f *Forwarder) shutdown(release bool) {
	f.mu.Lock()
	f.stopping = true
	up := f.up
	f.mu.Unlock()
	if up != nil {
		f.dropUpstream(up, fmt.Errorf("Kapsule's PackageKit forwarder for container %q is stopping", f.cfg.Container), errNameNoServer)
	}
	if release {
		// Also flushes the errors queued above: the bus answers in order.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(f.runCtx), 2*time.Second)
		if _, err := f.sess.callBus(ctx, "ReleaseName", f.cfg.Name); err != nil {
			f.log.Warn("release bus name", "err", err)
		}
		cancel()
	}
	f.sess.close()
}

// handleSession handles what arrives on the bus connection, in order. Only
// method calls are forwarded; signals and replies sent to the name by
// clients go nowhere, and so do the bus driver's NameAcquired/NameLost.
func (f *Forwarder) handleSession(m *message) {
	if m.typ == msgCall {
		f.handleCall(m)
		return
	}
	if m.sender != busName {
		f.log.Debug("dropped a message sent to the forwarder", "msg", m.String())
	}
}

// sessionIdle sends what the session reader queued: calls for PackageKit
// and answers of its own.
func (f *Forwarder) sessionIdle() {
	f.mu.Lock()
	var up *wireConn
	if f.up != nil && f.up.ready {
		up = f.up.conn
	}
	f.mu.Unlock()
	if up != nil {
		up.flush()
	}
	f.sess.flush()
}

// handleCall screens a client's call and forwards it, or queues it while
// the link is being set up.
func (f *Forwarder) handleCall(m *message) {
	if m.iface == peerIface {
		f.answerPeer(f.sess, m)
		return
	}
	body, ref := f.screen(m)
	if ref != nil {
		f.log.Info("refused a call", "sender", m.sender, "interface", m.iface, "member", m.member, "path", m.path, "reason", ref.text)
		if m.wantsReply() {
			_ = f.sess.send(errorReply(m, ref.name, ref.text))
		}
		return
	}
	// The client's sender and serial ride along for the bookkeeping; the
	// header is encoded without them.
	out := &message{
		order:  m.order,
		typ:    msgCall,
		flags:  m.flags & knownFlags,
		serial: m.serial,
		path:   m.path,
		iface:  m.iface,
		member: m.member,
		dest:   pkName,
		sender: m.sender,
		sig:    m.sig,
		body:   body,
	}
	f.touch()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopping {
		if m.wantsReply() {
			_ = f.sess.queue(errorReply(m, errNameNoServer, fmt.Sprintf("Kapsule's PackageKit forwarder for container %q is stopping", f.cfg.Container)))
		}
		return
	}
	up := f.up
	if up == nil {
		up = f.startUpstreamLocked()
	}
	if !up.ready {
		up.queued = append(up.queued, out)
		return
	}
	f.forwardLocked(up, out)
}

// forwardLocked queues a screened call upstream, recording where its answer
// goes before it can arrive. The caller flushes up.conn after unlocking.
func (f *Forwarder) forwardLocked(up *upstream, out *message) {
	serial := up.conn.nextSerial()
	if out.flags&flagNoReplyExpected == 0 {
		up.pending[serial] = pendingCall{
			client:   out.sender,
			serial:   out.serial,
			createTx: out.iface == pkIface && out.member == "CreateTransaction",
		}
	}
	// A failure means the link is closing; dropUpstream then answers the
	// pending call.
	_ = up.conn.enqueue(serial, out)
	f.watchLinkLocked(up)
}
