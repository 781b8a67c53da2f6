package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/godbus/dbus/v5"
)

// systemBus opens a private system bus connection, or nil when there is
// none (gating then says "unknown" and never blocks; no inhibitor).
func systemBus(log *slog.Logger) *dbus.Conn {
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		log.Info("no system bus: update gating and sleep inhibitors are off", "error", err)
		return nil
	}
	return conn
}

// inhibitor holds a logind shutdown and sleep lock while updates are
// applied, when logind is there.
func inhibitor(conn *dbus.Conn) func(ctx context.Context, why string) (func(), error) {
	return func(ctx context.Context, why string) (func(), error) {
		if conn == nil {
			return nil, fmt.Errorf("no system bus")
		}
		var fd dbus.UnixFD
		err := conn.Object("org.freedesktop.login1", "/org/freedesktop/login1").CallWithContext(ctx,
			"org.freedesktop.login1.Manager.Inhibit", dbus.FlagNoAutoStart, "shutdown:sleep", "Kapsule", why, "block").Store(&fd)
		if err != nil {
			return nil, fmt.Errorf("logind inhibitor: %w", err)
		}
		f := os.NewFile(uintptr(fd), "inhibitor")
		return func() { f.Close() }, nil
	}
}

// wakeups delivers a value each time logind reports the machine woke up.
func wakeups(ctx context.Context, conn *dbus.Conn) <-chan struct{} {
	out := make(chan struct{}, 1)
	if conn == nil {
		return out
	}
	if err := conn.AddMatchSignal(dbus.WithMatchInterface("org.freedesktop.login1.Manager"), dbus.WithMatchMember("PrepareForSleep")); err != nil {
		return out
	}
	sigs := make(chan *dbus.Signal, 4)
	conn.Signal(sigs)
	go func() {
		defer conn.RemoveSignal(sigs)
		for {
			select {
			case <-ctx.Done():
				return
			case s, ok := <-sigs:
				if !ok {
					return
				}
				if len(s.Body) == 1 && s.Body[0] == false { // woke up
					select {
					case out <- struct{}{}:
					default:
					}
				}
			}
		}
	}()
	return out
}
