package bridge

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Bus driver coordinates.
const (
	busName  = "org.freedesktop.DBus"
	busPath  = "/org/freedesktop/DBus"
	busIface = "org.freedesktop.DBus"
)

// maxQueuedBytes bounds what may wait in one connection's send queue. A peer
// that stops reading for that long is treated as gone.
const maxQueuedBytes = 256 << 20

var errConnClosed = errors.New("D-Bus connection closed")

// dbusError is an error reply received from a peer (or made for one).
type dbusError struct {
	name string
	msg  string
}

func (e *dbusError) Error() string {
	if e.msg == "" {
		return e.name
	}
	return e.name + ": " + e.msg
}

// wireConn is one authenticated connection to a message bus. Its owner
// runs readLoop in a goroutine. Writing needs no goroutine: enqueue appends
// to a FIFO queue without blocking, and flush writes the queue out from the
// calling goroutine unless another one is already doing so (which then
// writes what was added meanwhile too). Every enqueue must be followed by a
// flush, outside of any lock the writing could hold up. A peer that stops
// reading therefore holds up the goroutine that flushes to it (back-pressure
// on the forwarder's reader of the other connection) instead of letting the
// queue grow; what others queue meanwhile is bounded by maxQueuedBytes.
type wireConn struct {
	rwc    io.ReadWriteCloser
	r      *bufio.Reader
	unique string // unique name, set by hello

	serial atomic.Uint32

	qmu     sync.Mutex
	qbufs   [][]byte
	qbytes  int
	qclosed bool
	writing bool          // a goroutine is in flush
	w       *bufio.Writer // used by the flushing goroutine only

	cmu   sync.Mutex
	calls map[uint32]chan *message
	dead  bool

	closeOnce sync.Once
}

// openWireConn authenticates on rwc (SASL EXTERNAL, as godbus and libdbus do:
// no identity first, then the uid) and returns the connection, ready for its
// read loop to start. ctx bounds the authentication; rwc is closed on
// failure.
func openWireConn(ctx context.Context, rwc io.ReadWriteCloser) (*wireConn, error) {
	r, err := authenticate(ctx, rwc)
	if err != nil {
		rwc.Close()
		return nil, err
	}
	return &wireConn{
		rwc:   rwc,
		r:     r,
		w:     bufio.NewWriterSize(rwc, 64<<10),
		calls: map[uint32]chan *message{},
	}, nil
}

func authenticate(ctx context.Context, rwc io.ReadWriteCloser) (*bufio.Reader, error) {
	stop := context.AfterFunc(ctx, func() { rwc.Close() })
	r, err := authConversation(rwc)
	if !stop() {
		return nil, fmt.Errorf("authenticate: %w", context.Cause(ctx))
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	return r, nil
}

func authConversation(rwc io.ReadWriter) (*bufio.Reader, error) {
	r := bufio.NewReaderSize(rwc, 64<<10)
	write := func(s string) error {
		_, err := io.WriteString(rwc, s)
		return err
	}
	if err := write("\x00AUTH EXTERNAL\r\n"); err != nil {
		return nil, err
	}
	triedUID := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		word, _, _ := strings.Cut(line, " ")
		switch word {
		case "DATA":
			err = write("DATA\r\n")
		case "OK":
			return r, write("BEGIN\r\n")
		case "REJECTED":
			if triedUID {
				return nil, fmt.Errorf("bus rejected EXTERNAL authentication (%s)", line)
			}
			triedUID = true
			uid := hex.EncodeToString([]byte(strconv.Itoa(os.Geteuid())))
			err = write("AUTH EXTERNAL " + uid + "\r\n")
		default:
			return nil, fmt.Errorf("unexpected authentication answer %q", line)
		}
		if err != nil {
			return nil, err
		}
	}
}

// dialBusAddress connects to a D-Bus address such as
// "unix:path=/run/user/1000/bus"; alternatives separated by ';' are tried in
// turn.
func dialBusAddress(ctx context.Context, address string) (io.ReadWriteCloser, error) {
	var errs []error
	for _, entry := range strings.Split(address, ";") {
		if entry == "" {
			continue
		}
		transport, params, _ := strings.Cut(entry, ":")
		kv := map[string]string{}
		for _, p := range strings.Split(params, ",") {
			k, v, ok := strings.Cut(p, "=")
			if !ok {
				continue
			}
			uv, err := unescapeAddressValue(v)
			if err != nil {
				return nil, fmt.Errorf("bus address %q: %w", address, err)
			}
			kv[k] = uv
		}
		var network, target string
		switch {
		case transport == "unix" && kv["path"] != "":
			network, target = "unix", kv["path"]
		case transport == "unix" && kv["abstract"] != "":
			network, target = "unix", "@"+kv["abstract"]
		case transport == "tcp" && kv["host"] != "" && kv["port"] != "":
			network, target = "tcp", net.JoinHostPort(kv["host"], kv["port"])
		default:
			errs = append(errs, fmt.Errorf("unsupported bus address %q", entry))
			continue
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, target)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("empty bus address")
	}
	return nil, errors.Join(errs...)
}

func unescapeAddressValue(v string) (string, error) {
	if !strings.Contains(v, "%") {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b.WriteByte(v[i])
			continue
		}
		if i+2 >= len(v) {
			return "", fmt.Errorf("bad escape in %q", v)
		}
		x, err := hex.DecodeString(v[i+1 : i+3])
		if err != nil {
			return "", fmt.Errorf("bad escape in %q", v)
		}
		b.Write(x)
		i += 2
	}
	return b.String(), nil
}

// nextSerial returns a fresh serial for a message sent on c.
func (c *wireConn) nextSerial() uint32 {
	for {
		if s := c.serial.Add(1); s != 0 {
			return s
		}
	}
}

// enqueue queues m for sending with the given serial; flush sends it.
// It never blocks.
func (c *wireConn) enqueue(serial uint32, m *message) error {
	hdr := m.encodeHeader(serial)
	c.qmu.Lock()
	if c.qclosed {
		c.qmu.Unlock()
		return errConnClosed
	}
	c.qbufs = append(c.qbufs, hdr)
	if len(m.body) > 0 {
		c.qbufs = append(c.qbufs, m.body)
	}
	c.qbytes += len(hdr) + len(m.body)
	over := c.qbytes > maxQueuedBytes
	c.qmu.Unlock()
	if over {
		c.close()
		return fmt.Errorf("send queue over %d bytes: peer stopped reading", maxQueuedBytes)
	}
	return nil
}

// flush writes out the queue, unless another goroutine is doing so. It may
// block while the peer does not read.
func (c *wireConn) flush() {
	c.qmu.Lock()
	if c.writing {
		c.qmu.Unlock()
		return
	}
	c.writing = true
	for len(c.qbufs) > 0 && !c.qclosed {
		batch := c.qbufs
		c.qbufs = nil
		c.qbytes = 0
		c.qmu.Unlock()
		err := writeBatch(c.w, batch)
		c.qmu.Lock()
		if err != nil {
			c.writing = false
			c.qmu.Unlock()
			c.close()
			return
		}
	}
	c.writing = false
	c.qmu.Unlock()
}

func writeBatch(w *bufio.Writer, batch [][]byte) error {
	for _, b := range batch {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return w.Flush()
}

// queue queues m with a fresh serial; flush sends it.
func (c *wireConn) queue(m *message) error {
	return c.enqueue(c.nextSerial(), m)
}

// send queues m with a fresh serial and flushes.
func (c *wireConn) send(m *message) error {
	if err := c.enqueue(c.nextSerial(), m); err != nil {
		return err
	}
	c.flush()
	return nil
}

// maxDeferred bounds how many messages a reader handles before calling its
// idle function although more input is waiting.
const maxDeferred = 64

// readLoop reads messages until the connection fails or is closed. Replies to
// calls made with call are delivered there; everything else goes to handle,
// in arrival order, on this goroutine. idle is called when no complete
// message is waiting (and at least every maxDeferred messages): the place to
// flush what handle queued, so that a burst leaves in few writes.
func (c *wireConn) readLoop(handle func(*message), idle func()) error {
	defer c.close()
	defer c.failCalls()
	handled := 0
	for {
		m, err := readMessage(c.r)
		if err != nil {
			return err
		}
		if m.typ == msgReturn || m.typ == msgError {
			c.cmu.Lock()
			ch, ok := c.calls[m.replySerial]
			delete(c.calls, m.replySerial)
			c.cmu.Unlock()
			if ok {
				ch <- m
				continue
			}
		}
		handle(m)
		handled++
		if handled >= maxDeferred || !c.messageWaiting() {
			handled = 0
			idle()
		}
	}
}

// messageWaiting reports whether a whole message is already buffered.
func (c *wireConn) messageWaiting() bool {
	n := c.r.Buffered()
	if n < 16 {
		return false
	}
	fixed, err := c.r.Peek(16)
	if err != nil {
		return false
	}
	var order binary.ByteOrder = binary.LittleEndian
	if fixed[0] == 'B' {
		order = binary.BigEndian
	}
	total := align(16+uint64(order.Uint32(fixed[12:])), 8) + uint64(order.Uint32(fixed[4:]))
	return uint64(n) >= total
}

func (c *wireConn) failCalls() {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	c.dead = true
	for s, ch := range c.calls {
		close(ch)
		delete(c.calls, s)
	}
}

// call sends a method call made by this process and waits for its reply.
// An error reply is returned as a *dbusError.
func (c *wireConn) call(ctx context.Context, m *message) (*message, error) {
	ch := make(chan *message, 1)
	serial := c.nextSerial()
	c.cmu.Lock()
	if c.dead {
		c.cmu.Unlock()
		return nil, errConnClosed
	}
	c.calls[serial] = ch
	c.cmu.Unlock()
	forget := func() {
		c.cmu.Lock()
		delete(c.calls, serial)
		c.cmu.Unlock()
	}
	if err := c.enqueue(serial, m); err != nil {
		forget()
		return nil, err
	}
	c.flush()
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, errConnClosed
		}
		if r.typ == msgError {
			msg, _ := r.firstString()
			return nil, &dbusError{name: r.errName, msg: msg}
		}
		return r, nil
	case <-ctx.Done():
		forget()
		return nil, context.Cause(ctx)
	}
}

// callBus calls a method of the bus driver with a body of strings and uint32s.
func (c *wireConn) callBus(ctx context.Context, member string, args ...any) (*message, error) {
	sig, body := bodyOf(args...)
	return c.call(ctx, &message{
		typ:    msgCall,
		path:   busPath,
		iface:  busIface,
		member: member,
		dest:   busName,
		sig:    sig,
		body:   body,
	})
}

// hello registers the connection with the bus and learns its unique name.
func (c *wireConn) hello(ctx context.Context) error {
	r, err := c.callBus(ctx, "Hello")
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	name, ok := r.firstString()
	if !ok {
		return fmt.Errorf("hello: reply has signature %q", r.sig)
	}
	c.unique = name
	return nil
}

// close shuts the connection down; the loops return soon after.
func (c *wireConn) close() {
	c.closeOnce.Do(func() {
		c.qmu.Lock()
		c.qclosed = true
		c.qbufs = nil
		c.qbytes = 0
		c.qmu.Unlock()
		c.rwc.Close()
	})
}

// replyTo builds a method return or error answering call m, with a
// little-endian body.
func replyTo(m *message, typ byte, errName, sig string, body []byte) *message {
	return &message{
		typ:         typ,
		replySerial: m.serial,
		dest:        m.sender,
		errName:     errName,
		sig:         sig,
		body:        body,
	}
}

// errorReply builds an error answering call m, with a text message.
func errorReply(m *message, name, text string) *message {
	sig, body := bodyOf(text)
	return replyTo(m, msgError, name, sig, body)
}
