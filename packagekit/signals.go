package packagekit

import (
	"fmt"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// collector turns the signals of one transaction, in order, into its
// Result, its progress reports and its outcome.
type collector struct {
	path     dbus.ObjectPath
	role     Role
	res      *Result
	prog     Progress
	progress ProgressFunc
	txErr    *TransactionError // from the ErrorCode signal
}

func newCollector(path dbus.ObjectPath, role Role, progress ProgressFunc) *collector {
	return &collector{
		path:     path,
		role:     role,
		res:      &Result{Path: path, Role: role},
		prog:     newProgress(path, role),
		progress: progress,
	}
}

// handle takes one signal. done is true when the transaction succeeded
// (c.res is complete); a non-nil error ends it otherwise.
func (c *collector) handle(sig *dbus.Signal) (done bool, err error) {
	if sig.Name == propertiesChanged {
		ok, err := c.prog.applyProperties(sig.Body)
		if err != nil {
			return false, c.malformed(sig, err)
		}
		if ok {
			c.report()
		}
		return false, nil
	}
	member, ok := strings.CutPrefix(sig.Name, TransactionInterface+".")
	if !ok {
		return false, nil
	}
	switch member {
	case "ItemProgress":
		if err := c.prog.applyItem(sig.Body); err != nil {
			return false, c.malformed(sig, err)
		}
		c.report()
	case "ErrorCode":
		var code uint32
		var details string
		if err := dbus.Store(sig.Body, &code, &details); err != nil {
			return false, c.malformed(sig, err)
		}
		if c.txErr == nil { // PackageKit sends one; keep the first
			c.txErr = &TransactionError{Path: c.path, Role: c.role, Code: ErrorCode(code), Details: details}
		}
	case "Finished":
		var exit, ms uint32
		if err := dbus.Store(sig.Body, &exit, &ms); err != nil {
			return false, c.malformed(sig, err)
		}
		c.res.Exit, c.res.Runtime = Exit(exit), time.Duration(ms)*time.Millisecond
		if c.res.Exit == ExitSuccess {
			return true, nil
		}
		if c.txErr == nil {
			c.txErr = &TransactionError{Path: c.path, Role: c.role}
		}
		c.txErr.Exit = c.res.Exit
		return false, c.txErr
	case "Destroy":
		// Destroy comes 5 s after Finished, which ends the wait first; a
		// Destroy seen here means the daemon dropped the transaction.
		if c.txErr != nil {
			return false, c.txErr
		}
		return false, fmt.Errorf("packagekit %s on %s: %w", c.role, c.path, ErrDestroyed)
	default:
		n := len(c.res.Packages)
		if err := c.res.add(member, sig.Body); err != nil {
			return false, c.malformed(sig, err)
		}
		if len(c.res.Packages) > n {
			last := c.res.Packages[len(c.res.Packages)-1]
			c.prog.LastPackage = last.ID
			if last.Info.inProgress() {
				c.report()
			}
		}
	}
	return false, nil
}

func (c *collector) report() {
	if c.progress != nil {
		c.progress(c.prog)
	}
}

func (c *collector) malformed(sig *dbus.Signal, err error) error {
	return fmt.Errorf("packagekit %s on %s: malformed %s signal: %w", c.role, c.path, sig.Name, err)
}

// inProgress reports whether a Package signal with this info tells what a
// transaction is doing to the package, rather than listing it.
func (i Info) inProgress() bool {
	return (i >= InfoDownloading && i <= InfoObsoleting) || (i >= InfoFinished && i <= InfoDecompressing)
}
