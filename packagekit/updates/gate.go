package updates

import (
	"context"
	"errors"
	"fmt"

	"github.com/godbus/dbus/v5"
)

// GatePolicy is what may stop a scheduled check (from [Updates]).
type GatePolicy struct {
	SkipOnMetered    bool
	MinBattery       int // percent; 0 = no limit
	SkipOnPowerSaver bool
}

// Gate verdicts, per condition.
const (
	GateOK      = "ok"
	GateBlocks  = "blocks"
	GateUnknown = "unknown" // the service is absent: never blocks
)

// GateState is the verdict of each condition and, when one blocks, why.
type GateState struct {
	Metered, Battery, PowerSaver string
	Reason                       string // "" when nothing blocks
}

// Blocked reports whether a condition stops the check.
func (g GateState) Blocked() bool { return g.Reason != "" }

// Map renders the verdicts for D-Bus (GetUpdateStatus gating).
func (g GateState) Map() map[string]string {
	return map[string]string{"metered": g.Metered, "battery": g.Battery, "power_saver": g.PowerSaver}
}

// SystemGate reads the conditions from NetworkManager, UPower and
// power-profiles-daemon on the system bus. A service that is absent does
// not block.
type SystemGate struct {
	conn *dbus.Conn
}

// NewSystemGate returns a gate using conn (a system bus connection; nil
// means no system bus: every condition is unknown).
func NewSystemGate(conn *dbus.Conn) *SystemGate { return &SystemGate{conn: conn} }

// Check evaluates the policy now.
func (g *SystemGate) Check(ctx context.Context, p GatePolicy) GateState {
	st := GateState{Metered: GateUnknown, Battery: GateUnknown, PowerSaver: GateUnknown}
	if g.conn == nil {
		return st
	}
	block := func(field *string, reason string) {
		*field = GateBlocks
		if st.Reason == "" {
			st.Reason = reason
		}
	}

	if v, err := g.get(ctx, "org.freedesktop.NetworkManager", "/org/freedesktop/NetworkManager", "org.freedesktop.NetworkManager", "Metered"); err == nil {
		m, _ := v.Value().(uint32)
		st.Metered = GateOK
		if p.SkipOnMetered && (m == 1 || m == 3) { // yes, guess-yes
			block(&st.Metered, "the network connection is metered")
		}
	}

	onBattery, errB := g.get(ctx, "org.freedesktop.UPower", "/org/freedesktop/UPower", "org.freedesktop.UPower", "OnBattery")
	if errB == nil {
		st.Battery = GateOK
		if on, _ := onBattery.Value().(bool); on && p.MinBattery > 0 {
			if pct, err := g.get(ctx, "org.freedesktop.UPower", "/org/freedesktop/UPower/devices/DisplayDevice", "org.freedesktop.UPower.Device", "Percentage"); err == nil {
				if level, _ := pct.Value().(float64); level < float64(p.MinBattery) {
					block(&st.Battery, fmt.Sprintf("on battery at %.0f%% (below %d%%)", level, p.MinBattery))
				}
			}
		}
	}

	for _, pp := range []struct{ name, path, iface string }{
		{"org.freedesktop.UPower.PowerProfiles", "/org/freedesktop/UPower/PowerProfiles", "org.freedesktop.UPower.PowerProfiles"},
		{"net.hadess.PowerProfiles", "/net/hadess/PowerProfiles", "net.hadess.PowerProfiles"},
	} {
		v, err := g.get(ctx, pp.name, pp.path, pp.iface, "ActiveProfile")
		if err != nil {
			continue
		}
		st.PowerSaver = GateOK
		if prof, _ := v.Value().(string); prof == "power-saver" && p.SkipOnPowerSaver {
			block(&st.PowerSaver, "power saving is on")
		}
		break
	}
	return st
}

// get reads a property without activating services that are not running
// (an absent service answers at once).
func (g *SystemGate) get(ctx context.Context, name, path, iface, prop string) (dbus.Variant, error) {
	var v dbus.Variant
	call := g.conn.Object(name, dbus.ObjectPath(path)).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", dbus.FlagNoAutoStart, iface, prop)
	if call.Err != nil {
		return v, call.Err
	}
	if err := call.Store(&v); err != nil {
		return v, err
	}
	return v, nil
}

// IsServiceUnknown reports whether err says a bus name has no owner.
func IsServiceUnknown(err error) bool {
	var de dbus.Error
	return errors.As(err, &de) && (de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" || de.Name == "org.freedesktop.DBus.Error.NameHasNoOwner")
}
