package updates

import (
	"context"
	"fmt"
	"strings"

	"github.com/godbus/dbus/v5"
)

// Desktop tells the session about updates: a notification through
// org.freedesktop.Notifications, and the signal Discover's notifier
// listens for (org.kde.discover.NotifyNotifier on /) so it rechecks.
type Desktop struct {
	conn *dbus.Conn // the session bus
}

// NewDesktop returns a Desktop on a session bus connection.
func NewDesktop(conn *dbus.Conn) *Desktop { return &Desktop{conn: conn} }

// Summary is what a notification says: the pending updates per container.
type Summary struct {
	Containers []ContainerCount
}

// ContainerCount is one container's pending and security counts.
type ContainerCount struct {
	Name            string
	Count, Security uint32
}

// Text renders a summary: a title and a body, e.g. "3 containers have 12
// updates" / "dev: 10 (2 security)\narch: 2".
func (s Summary) Text() (title, body string) {
	var total, security uint32
	var lines []string
	n := 0
	for _, c := range s.Containers {
		if c.Count == 0 {
			continue
		}
		n++
		total += c.Count
		security += c.Security
		line := fmt.Sprintf("%s: %d", c.Name, c.Count)
		if c.Security > 0 {
			line += fmt.Sprintf(" (%d security)", c.Security)
		}
		lines = append(lines, line)
	}
	updates := plural(total, "update", "updates")
	switch n {
	case 0:
		return "Containers are up to date", ""
	case 1:
		title = fmt.Sprintf("%s has %s", s.Containers[firstWith(s.Containers)].Name, updates)
	default:
		title = fmt.Sprintf("%d containers have %s", n, updates)
	}
	if security > 0 {
		title += fmt.Sprintf(", %d security", security)
	}
	return title, strings.Join(lines, "\n")
}

func firstWith(cs []ContainerCount) int {
	for i, c := range cs {
		if c.Count > 0 {
			return i
		}
	}
	return 0
}

func plural(n uint32, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Notify shows a desktop notification for the summary and returns its id.
// A session without a notification server is not an error worth failing
// a check for: the caller logs it.
func (d *Desktop) Notify(ctx context.Context, s Summary, security bool) (uint32, error) {
	title, body := s.Text()
	icon := "update-low"
	urgency := byte(1)
	if security {
		icon, urgency = "update-high", 2
	}
	hints := map[string]dbus.Variant{
		"desktop-entry": dbus.MakeVariant("org.kde.discover"),
		"urgency":       dbus.MakeVariant(urgency),
		"category":      dbus.MakeVariant("x-kapsule.updates"),
	}
	var id uint32
	err := d.conn.Object("org.freedesktop.Notifications", "/org/freedesktop/Notifications").
		CallWithContext(ctx, "org.freedesktop.Notifications.Notify", 0,
			"Kapsule", uint32(0), icon, title, body, []string{}, hints, int32(-1)).Store(&id)
	if err != nil {
		return 0, fmt.Errorf("desktop notification: %w", err)
	}
	return id, nil
}

// PokeDiscover emits org.kde.discover.NotifyNotifier on /, which makes a
// running Discover notifier recheck for updates.
func (d *Desktop) PokeDiscover() error {
	return d.conn.Emit("/", "org.kde.discover.NotifyNotifier")
}
