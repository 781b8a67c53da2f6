package packagekit

import (
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

const propertiesChanged = "org.freedesktop.DBus.Properties.PropertiesChanged"

// PercentageUnknown is the Percentage PackageKit reports when it cannot
// tell (101).
const PercentageUnknown = 101

// Progress is the state of a running transaction, from its properties
// (announced by PropertiesChanged) and its ItemProgress signals. Fields keep
// their last known value; the initial values are the daemon's defaults.
type Progress struct {
	Path                  dbus.ObjectPath
	Role                  Role
	Status                Status
	Percentage            uint32 // 0-100, or PercentageUnknown
	AllowCancel           bool
	CallerActive          bool
	LastPackage           PackageID // the package of the last Package signal
	ElapsedTime           time.Duration
	RemainingTime         time.Duration // 0 when unknown
	Speed                 uint32        // bits per second, 0 when unknown
	DownloadSizeRemaining uint64        // bytes
	TransactionFlags      TransactionFlags
	Item                  ItemProgress // the last ItemProgress signal
}

// ItemProgress is the progress of one package inside a transaction.
type ItemProgress struct {
	ID         PackageID
	Status     Status
	Percentage uint32 // 0-100, or PercentageUnknown
}

// PercentKnown returns the percentage and whether it is known.
func (p Progress) PercentKnown() (uint32, bool) {
	return p.Percentage, p.Percentage <= 100
}

// ProgressFunc receives a transaction's progress. It runs on the goroutine
// that called Run, between the handling of two signals of the transaction:
// a slow function delays only that transaction.
type ProgressFunc func(Progress)

func newProgress(path dbus.ObjectPath, role Role) Progress {
	return Progress{
		Path: path, Role: role, Status: StatusWait, Percentage: PercentageUnknown,
		AllowCancel: true, CallerActive: true,
	}
}

// applyProperties updates p from the body of a PropertiesChanged signal. It
// reports whether the signal was about the transaction interface.
func (p *Progress) applyProperties(body []any) (bool, error) {
	var iface string
	var changed map[string]dbus.Variant
	var invalidated []string
	if err := dbus.Store(body, &iface, &changed, &invalidated); err != nil {
		return false, err
	}
	if iface != TransactionInterface {
		return false, nil
	}
	for name, v := range changed {
		if err := p.applyProperty(name, v); err != nil {
			return true, fmt.Errorf("property %s: %w", name, err)
		}
	}
	return true, nil
}

func (p *Progress) applyProperty(name string, v dbus.Variant) error {
	var u uint32
	var t uint64
	switch name {
	case "Role", "Status", "Percentage", "ElapsedTime", "RemainingTime", "Speed":
		if err := v.Store(&u); err != nil {
			return err
		}
	case "DownloadSizeRemaining", "TransactionFlags":
		if err := v.Store(&t); err != nil {
			return err
		}
	}
	switch name {
	case "Role":
		p.Role = Role(u)
	case "Status":
		p.Status = Status(u)
	case "Percentage":
		p.Percentage = u
	case "ElapsedTime":
		p.ElapsedTime = time.Duration(u) * time.Second
	case "RemainingTime":
		p.RemainingTime = time.Duration(u) * time.Second
	case "Speed":
		p.Speed = u
	case "DownloadSizeRemaining":
		p.DownloadSizeRemaining = t
	case "TransactionFlags":
		p.TransactionFlags = TransactionFlags(t)
	case "AllowCancel":
		return v.Store(&p.AllowCancel)
	case "CallerActive":
		return v.Store(&p.CallerActive)
	case "LastPackage":
		var s string
		if err := v.Store(&s); err != nil {
			return err
		}
		p.LastPackage = PackageID(s)
	}
	return nil
}

// applyItem updates p from an ItemProgress signal.
func (p *Progress) applyItem(body []any) error {
	var id string
	var status, pct uint32
	if err := dbus.Store(body, &id, &status, &pct); err != nil {
		return err
	}
	p.Item = ItemProgress{ID: PackageID(id), Status: Status(status), Percentage: pct}
	return nil
}
