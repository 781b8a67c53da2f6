package packagekit

import (
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

// Result is what a transaction reported through its signals, by kind, in
// the order PackageKit sent them.
type Result struct {
	Path    dbus.ObjectPath
	Role    Role
	Exit    Exit          // from Finished
	Runtime time.Duration // from Finished

	Packages      []Package      // Package and Packages signals
	Details       []Details      // Details signals (GetDetails)
	UpdateDetails []UpdateDetail // UpdateDetail and UpdateDetails signals
	Repos         []RepoDetail   // RepoDetail signals (GetRepoList; apt also sends them during RefreshCache)
	Files         []PackageFiles // Files signals (GetFiles)
	Restarts      []RestartRequest
	Transactions  []PastTransaction // Transaction signals (GetOldTransactions)
}

// PackagesWithInfo returns the packages reported with the given info, e.g.
// InfoInstalled to pick the installed ones out of a Resolve.
func (r *Result) PackagesWithInfo(info Info) []Package {
	var out []Package
	for _, p := range r.Packages {
		if p.Info == info {
			out = append(out, p)
		}
	}
	return out
}

// Package is one Package signal (or one element of a Packages signal).
type Package struct {
	Info     Info // installed, available, the kind of an update, or what is being done to it
	Severity Info // update severity (upper 16 bits of the wire value); InfoUnknown if none
	ID       PackageID
	Summary  string
}

// Details is a Details signal. Keys the backend omits stay zero.
type Details struct {
	ID           PackageID
	Group        Group
	Summary      string
	Description  string
	URL          string
	License      string
	Size         uint64 // installed size in bytes
	DownloadSize uint64 // bytes to download
}

// UpdateDetail is an UpdateDetail signal (or an element of UpdateDetails).
type UpdateDetail struct {
	ID           PackageID
	Updates      []PackageID // the installed packages this update replaces
	Obsoletes    []PackageID
	VendorURLs   []string
	BugzillaURLs []string
	CVEURLs      []string
	Restart      Restart
	UpdateText   string
	Changelog    string
	State        UpdateState
	Issued       string // ISO 8601, may be empty
	Updated      string // ISO 8601, may be empty
}

// RepoDetail is a RepoDetail signal.
type RepoDetail struct {
	ID          string
	Description string
	Enabled     bool
}

// PackageFiles is a Files signal: the files of one package.
type PackageFiles struct {
	ID    PackageID
	Files []string
}

// RestartRequest is a RequireRestart signal.
type RestartRequest struct {
	Type Restart
	ID   PackageID
}

// PastTransaction is a Transaction signal, the answer to GetOldTransactions.
type PastTransaction struct {
	Path      dbus.ObjectPath
	Timespec  string // ISO 8601, e.g. "2026-11-25T20:53:45.392061Z"
	Succeeded bool
	Role      Role
	Duration  time.Duration
	Data      string // one "info\tpackage_id\tsummary" line per package
	UID       uint32
	Cmdline   string
}

// Time parses Timespec.
func (p PastTransaction) Time() (time.Time, error) {
	return time.Parse(time.RFC3339Nano, p.Timespec)
}

// add adds the result carried by a transaction signal (named by its member)
// to r. Signals that carry no result, or that this package does not decode
// (Category, DistroUpgrade, EulaRequired, ...), are ignored.
func (r *Result) add(member string, body []any) error {
	switch member {
	case "Package":
		var raw uint32
		var id, summary string
		if err := dbus.Store(body, &raw, &id, &summary); err != nil {
			return err
		}
		r.Packages = append(r.Packages, newPackage(raw, id, summary))
	case "Packages":
		var pkgs []struct {
			Info        uint32
			ID, Summary string
		}
		if err := dbus.Store(body, &pkgs); err != nil {
			return err
		}
		for _, p := range pkgs {
			r.Packages = append(r.Packages, newPackage(p.Info, p.ID, p.Summary))
		}
	case "Details":
		var m map[string]dbus.Variant
		if err := dbus.Store(body, &m); err != nil {
			return err
		}
		d, err := newDetails(m)
		if err != nil {
			return err
		}
		r.Details = append(r.Details, d)
	case "UpdateDetail":
		var u wireUpdateDetail
		if err := dbus.Store(body, &u.ID, &u.Updates, &u.Obsoletes, &u.VendorURLs, &u.BugzillaURLs,
			&u.CVEURLs, &u.Restart, &u.UpdateText, &u.Changelog, &u.State, &u.Issued, &u.Updated); err != nil {
			return err
		}
		r.UpdateDetails = append(r.UpdateDetails, u.typed())
	case "UpdateDetails":
		var us []wireUpdateDetail
		if err := dbus.Store(body, &us); err != nil {
			return err
		}
		for _, u := range us {
			r.UpdateDetails = append(r.UpdateDetails, u.typed())
		}
	case "RepoDetail":
		var d RepoDetail
		if err := dbus.Store(body, &d.ID, &d.Description, &d.Enabled); err != nil {
			return err
		}
		r.Repos = append(r.Repos, d)
	case "Files":
		var id string
		var files []string
		if err := dbus.Store(body, &id, &files); err != nil {
			return err
		}
		r.Files = append(r.Files, PackageFiles{ID: PackageID(id), Files: files})
	case "RequireRestart":
		var typ uint32
		var id string
		if err := dbus.Store(body, &typ, &id); err != nil {
			return err
		}
		r.Restarts = append(r.Restarts, RestartRequest{Type: Restart(typ), ID: PackageID(id)})
	case "Transaction":
		var t PastTransaction
		var role, ms uint32
		if err := dbus.Store(body, &t.Path, &t.Timespec, &t.Succeeded, &role, &ms, &t.Data, &t.UID, &t.Cmdline); err != nil {
			return err
		}
		t.Role, t.Duration = Role(role), time.Duration(ms)*time.Millisecond
		r.Transactions = append(r.Transactions, t)
	}
	return nil
}

func newPackage(raw uint32, id, summary string) Package {
	info, sev := DecodeInfo(raw)
	return Package{Info: info, Severity: sev, ID: PackageID(id), Summary: summary}
}

func newDetails(m map[string]dbus.Variant) (Details, error) {
	var d Details
	var id string
	var group uint32
	fields := map[string]any{
		"package-id": &id, "group": &group, "summary": &d.Summary, "description": &d.Description,
		"url": &d.URL, "license": &d.License, "size": &d.Size, "download-size": &d.DownloadSize,
	}
	for k, dst := range fields {
		if v, ok := m[k]; ok {
			if err := v.Store(dst); err != nil {
				return d, fmt.Errorf("details key %q: %w", k, err)
			}
		}
	}
	d.ID, d.Group = PackageID(id), Group(group)
	return d, nil
}

// wireUpdateDetail is the D-Bus struct (sasasasasasussuss).
type wireUpdateDetail struct {
	ID           string
	Updates      []string
	Obsoletes    []string
	VendorURLs   []string
	BugzillaURLs []string
	CVEURLs      []string
	Restart      uint32
	UpdateText   string
	Changelog    string
	State        uint32
	Issued       string
	Updated      string
}

func (u wireUpdateDetail) typed() UpdateDetail {
	return UpdateDetail{
		ID: PackageID(u.ID), Updates: toIDs(u.Updates), Obsoletes: toIDs(u.Obsoletes),
		VendorURLs: u.VendorURLs, BugzillaURLs: u.BugzillaURLs, CVEURLs: u.CVEURLs,
		Restart: Restart(u.Restart), UpdateText: u.UpdateText, Changelog: u.Changelog,
		State: UpdateState(u.State), Issued: u.Issued, Updated: u.Updated,
	}
}

func toIDs(ss []string) []PackageID {
	if ss == nil {
		return nil
	}
	ids := make([]PackageID, len(ss))
	for i, s := range ss {
		ids[i] = PackageID(s)
	}
	return ids
}
