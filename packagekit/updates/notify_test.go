package updates

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/testbed"
)

func TestSummaryText(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in          []ContainerCount
		title, body string
	}{
		"nothing":       {nil, "Containers are up to date", ""},
		"one container": {[]ContainerCount{{"dev", 1, 0}, {"arch", 0, 0}}, "dev has 1 update", "dev: 1"},
		"three with security": {
			[]ContainerCount{{"dev", 10, 2}, {"arch", 1, 0}, {"fed", 1, 0}},
			"3 containers have 12 updates, 2 security", "dev: 10 (2 security)\narch: 1\nfed: 1",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			title, body := Summary{Containers: tc.in}.Text()
			if title != tc.title || body != tc.body {
				t.Errorf("got %q / %q, want %q / %q", title, body, tc.title, tc.body)
			}
		})
	}
}

// notificationServer records Notify calls, like Plasma's would show them.
type notificationServer struct {
	mu    sync.Mutex
	calls [][]any
}

func (n *notificationServer) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, []any{app, icon, summary, body, hints["urgency"].Value()})
	return uint32(len(n.calls)), nil
}

func TestDesktopNotifyAndDiscoverSignal(t *testing.T) {
	t.Parallel()
	bus := testbed.StartBus(t, false)
	server, err := dbus.Connect(bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	ns := &notificationServer{}
	if err := server.Export(ns, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	if r, err := server.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatal(r, err)
	}
	// A Discover notifier listening for the recheck signal.
	if err := server.AddMatchSignal(dbus.WithMatchInterface("org.kde.discover"), dbus.WithMatchMember("NotifyNotifier")); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan *dbus.Signal, 4)
	server.Signal(sigs)

	conn, err := dbus.Connect(bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	d := NewDesktop(conn)
	id, err := d.Notify(context.Background(), Summary{Containers: []ContainerCount{{"dev", 2, 1}}}, true)
	if err != nil || id != 1 {
		t.Fatalf("Notify = %d, %v", id, err)
	}
	ns.mu.Lock()
	got := ns.calls[0]
	ns.mu.Unlock()
	if got[0] != "Kapsule" || got[1] != "update-high" || got[2] != "dev has 2 updates, 1 security" || got[4] != byte(2) {
		t.Errorf("notification %v", got)
	}
	if err := d.PokeDiscover(); err != nil {
		t.Fatal(err)
	}
	var s *dbus.Signal
	select {
	case s = <-sigs:
	case <-time.After(5 * time.Second):
		t.Fatal("no NotifyNotifier signal within 5 s")
	}
	if s.Path != "/" || s.Name != "org.kde.discover.NotifyNotifier" {
		t.Errorf("signal %+v", s)
	}
}
