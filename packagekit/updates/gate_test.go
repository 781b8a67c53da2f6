package updates

import (
	"context"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"

	"invent.kde.org/kapsule/kapsule/testbed"
)

// fakeSystemService exports read-only properties under a name on a private
// system bus, standing in for NetworkManager, UPower or
// power-profiles-daemon.
func fakeSystemService(t *testing.T, addr, name string, objects map[string]prop.Map) {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	for path, m := range objects {
		if _, err := prop.Export(conn, dbus.ObjectPath(path), m); err != nil {
			t.Fatal(err)
		}
	}
	reply, err := conn.RequestName(name, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s: %v %v", name, reply, err)
	}
}

func TestSystemGate(t *testing.T) {
	t.Parallel()
	policy := GatePolicy{SkipOnMetered: true, MinBattery: 30, SkipOnPowerSaver: true}
	tests := map[string]struct {
		metered    *uint32
		onBattery  *bool
		percent    float64
		profile    string
		profileAPI string // "hadess" or "upower"
		want       GateState
	}{
		"no services: nothing blocks": {
			want: GateState{Metered: GateUnknown, Battery: GateUnknown, PowerSaver: GateUnknown},
		},
		"metered connection blocks": {
			metered: u32(1),
			want:    GateState{Metered: GateBlocks, Battery: GateUnknown, PowerSaver: GateUnknown, Reason: "the network connection is metered"},
		},
		"guessed metered blocks": {
			metered: u32(3),
			want:    GateState{Metered: GateBlocks, Battery: GateUnknown, PowerSaver: GateUnknown, Reason: "the network connection is metered"},
		},
		"unmetered and on AC": {
			metered: u32(4), onBattery: boolp(false), percent: 5,
			want: GateState{Metered: GateOK, Battery: GateOK, PowerSaver: GateUnknown},
		},
		"low battery blocks": {
			onBattery: boolp(true), percent: 12,
			want: GateState{Metered: GateUnknown, Battery: GateBlocks, PowerSaver: GateUnknown, Reason: "on battery at 12% (below 30%)"},
		},
		"battery above the threshold": {
			onBattery: boolp(true), percent: 80,
			want: GateState{Metered: GateUnknown, Battery: GateOK, PowerSaver: GateUnknown},
		},
		"power saver blocks (net.hadess)": {
			profile: "power-saver", profileAPI: "hadess",
			want: GateState{Metered: GateUnknown, Battery: GateUnknown, PowerSaver: GateBlocks, Reason: "power saving is on"},
		},
		"balanced profile (UPower API)": {
			profile: "balanced", profileAPI: "upower",
			want: GateState{Metered: GateUnknown, Battery: GateUnknown, PowerSaver: GateOK},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bus := testbed.StartBus(t, true)
			if tc.metered != nil {
				fakeSystemService(t, bus.Address, "org.freedesktop.NetworkManager", map[string]prop.Map{
					"/org/freedesktop/NetworkManager": {"org.freedesktop.NetworkManager": {"Metered": {Value: *tc.metered}}},
				})
			}
			if tc.onBattery != nil {
				fakeSystemService(t, bus.Address, "org.freedesktop.UPower", map[string]prop.Map{
					"/org/freedesktop/UPower":                       {"org.freedesktop.UPower": {"OnBattery": {Value: *tc.onBattery}}},
					"/org/freedesktop/UPower/devices/DisplayDevice": {"org.freedesktop.UPower.Device": {"Percentage": {Value: tc.percent}}},
				})
			}
			switch tc.profileAPI {
			case "hadess":
				fakeSystemService(t, bus.Address, "net.hadess.PowerProfiles", map[string]prop.Map{
					"/net/hadess/PowerProfiles": {"net.hadess.PowerProfiles": {"ActiveProfile": {Value: tc.profile}}},
				})
			case "upower":
				fakeSystemService(t, bus.Address, "org.freedesktop.UPower.PowerProfiles", map[string]prop.Map{
					"/org/freedesktop/UPower/PowerProfiles": {"org.freedesktop.UPower.PowerProfiles": {"ActiveProfile": {Value: tc.profile}}},
				})
			}
			conn, err := dbus.Connect(bus.Address)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			got := NewSystemGate(conn).Check(context.Background(), policy)
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestGateWithoutSystemBus(t *testing.T) {
	t.Parallel()
	got := NewSystemGate(nil).Check(context.Background(), GatePolicy{SkipOnMetered: true})
	if got.Blocked() || got.Metered != GateUnknown {
		t.Errorf("got %+v", got)
	}
}

func u32(v uint32) *uint32 { return &v }
func boolp(v bool) *bool   { return &v }
