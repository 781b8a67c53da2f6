// Package systemd holds kapsuled's systemd glue: readiness, status and
// watchdog notifications (sd_notify), a log handler that writes structured
// entries to the journal when stderr is the journal, and the unit and
// D-Bus activation files (installed by make install).
package systemd

import (
	"context"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends sd_notify messages. Without NOTIFY_SOCKET (not started
// by systemd) every call is a no-op.
type Notifier struct {
	send func(state string) error
}

// NewNotifier returns a Notifier writing to $NOTIFY_SOCKET.
func NewNotifier() *Notifier {
	return &Notifier{send: func(state string) error {
		_, err := daemon.SdNotify(false, state)
		return err
	}}
}

// Ready tells systemd the service is up (every object exported, the name
// owned) and sets the status line.
func (n *Notifier) Ready(status string) error {
	return n.send(daemon.SdNotifyReady + "\nSTATUS=" + status)
}

// Status sets the line shown by `systemctl --user status`.
func (n *Notifier) Status(status string) error {
	return n.send("STATUS=" + status)
}

// Stopping tells systemd the service is shutting down.
func (n *Notifier) Stopping(status string) error {
	return n.send(daemon.SdNotifyStopping + "\nSTATUS=" + status)
}

// RunWatchdog pets the watchdog at half its interval until ctx ends, if
// the unit has WatchdogSec=. healthy is asked before each ping; a service
// that is stuck (healthy blocks or says false) is restarted by systemd.
func (n *Notifier) RunWatchdog(ctx context.Context, healthy func(context.Context) bool) error {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval == 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			hctx, cancel := context.WithTimeout(ctx, interval/4)
			ok := healthy == nil || healthy(hctx)
			cancel()
			if ok {
				_ = n.send(daemon.SdNotifyWatchdog)
			}
		}
	}
}
