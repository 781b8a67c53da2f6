package packagekit

import (
	"context"
	"fmt"
	"io"

	"github.com/godbus/dbus/v5"
)

// Dialer opens a byte stream to a D-Bus message bus, for example the stdin
// and stdout of `systemd-stdio-bridge` run inside a container through Incus
// exec. Closing the stream ends the connection.
type Dialer func(ctx context.Context) (io.ReadWriteCloser, error)

// OpenConn makes a D-Bus connection on an open stream to a message bus:
// EXTERNAL authentication (no identity is sent, so the bus uses the
// credentials of its peer: with systemd-stdio-bridge, the bridge's user) and
// Hello. The connection owns rwc; on failure rwc is closed. ctx bounds the
// handshake only.
func OpenConn(ctx context.Context, rwc io.ReadWriteCloser) (*dbus.Conn, error) {
	conn, err := dbus.NewConn(rwc)
	if err != nil {
		_ = rwc.Close()
		return nil, fmt.Errorf("open D-Bus connection: %w", err)
	}
	done := make(chan error, 1)
	go func() {
		if err := conn.Auth(nil); err != nil {
			done <- fmt.Errorf("authenticate: %w", err)
			return
		}
		if err := conn.Hello(); err != nil {
			done <- fmt.Errorf("hello: %w", err)
			return
		}
		done <- nil
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = conn.Close() // unblocks the handshake
		<-done
		err = context.Cause(ctx)
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("open D-Bus connection: %w", err)
	}
	return conn, nil
}

// Dial opens a stream with dial, makes a D-Bus connection on it and returns
// a Client for dest on it. The Client owns the connection: Close closes it.
func Dial(ctx context.Context, dial Dialer, dest string, opts ...Option) (*Client, error) {
	rwc, err := dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("packagekit dial: %w", err)
	}
	conn, err := OpenConn(ctx, rwc)
	if err != nil {
		return nil, fmt.Errorf("packagekit dial: %w", err)
	}
	c, err := NewClient(ctx, conn, dest, opts...)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	c.ownsConn = true
	return c, nil
}
