package bridge

import (
	"fmt"
	"strings"
)

// PackageKit's coordinates on the container's system bus.
const (
	pkName         = "org.freedesktop.PackageKit"
	pkPath         = "/org/freedesktop/PackageKit"
	pkIface        = "org.freedesktop.PackageKit"
	pkOfflineIface = "org.freedesktop.PackageKit.Offline"
	pkTxIface      = "org.freedesktop.PackageKit.Transaction"
	propsIface     = "org.freedesktop.DBus.Properties"
	introIface     = "org.freedesktop.DBus.Introspectable"
	peerIface      = "org.freedesktop.DBus.Peer"
)

// D-Bus error names the forwarder answers with.
const (
	errNameAccessDenied  = "org.freedesktop.DBus.Error.AccessDenied"
	errNameInvalidArgs   = "org.freedesktop.DBus.Error.InvalidArgs"
	errNameUnknownMethod = "org.freedesktop.DBus.Error.UnknownMethod"
	errNameNoServer      = "org.freedesktop.DBus.Error.NoServer"
	errNameNoReply       = "org.freedesktop.DBus.Error.NoReply"
	errNameFailed        = "org.freedesktop.DBus.Error.Failed"
	errNameNoSuchFile    = "org.freedesktop.PackageKit.Transaction.NoSuchFile"
)

func memberSet(names ...string) map[string]bool {
	s := make(map[string]bool, len(names))
	for _, n := range names {
		s[n] = true
	}
	return s
}

// The methods of PackageKit's interfaces (1.2.6 and 1.3.x).
var (
	daemonMethods = memberSet("CanAuthorize", "CreateTransaction", "GetTimeSinceAction",
		"GetTransactionList", "StateHasChanged", "SuggestDaemonQuit", "GetPackageHistory",
		"GetDaemonState", "SetProxy")
	offlineMethods = memberSet("ClearResults", "Trigger", "TriggerUpgrade", "Cancel",
		"GetPrepared", "GetResults")
	transactionMethods = memberSet("SetHints", "AcceptEula", "Cancel", "DownloadPackages",
		"GetCategories", "DependsOn", "GetDetails", "GetDetailsLocal", "GetFilesLocal",
		"GetFiles", "GetOldTransactions", "GetPackages", "GetRepoList", "RequiredBy",
		"GetUpdateDetail", "GetUpdates", "GetDistroUpgrades", "InstallFiles",
		"InstallPackages", "InstallSignature", "RefreshCache", "RemovePackages",
		"RepoEnable", "RepoSetData", "RepoRemove", "Resolve", "SearchDetails",
		"SearchFiles", "SearchGroups", "SearchNames", "UpdatePackages", "WhatProvides",
		"UpgradeSystem", "RepairSystem")
	// Paths above PackageKit's objects that may be introspected.
	introspectablePaths = memberSet("/", "/org", "/org/freedesktop", pkPath)
)

// isTransactionPath reports whether p looks like a PackageKit transaction
// path: /<counter>_<hex>.
func isTransactionPath(p string) bool {
	counter, suffix, ok := strings.Cut(strings.TrimPrefix(p, "/"), "_")
	if !ok || len(p) < 4 || p[0] != '/' || counter == "" || suffix == "" {
		return false
	}
	for i := 0; i < len(counter); i++ {
		if !isDigit(counter[i]) {
			return false
		}
	}
	for i := 0; i < len(suffix); i++ {
		c := suffix[i]
		if !isDigit(c) && !('a' <= c && c <= 'f') && !('A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func isPackageKitObject(p string) bool { return p == pkPath || isTransactionPath(p) }

// refusal is the error a refused call is answered with.
type refusal struct {
	name string
	text string
}

// screen applies the allow-list to a client's method call (Peer excepted:
// it is answered locally). It returns the body to forward (rewritten for
// SetHints) or the reason to refuse.
func (f *Forwarder) screen(m *message) ([]byte, *refusal) {
	deny := func(format string, args ...any) ([]byte, *refusal) {
		text := fmt.Sprintf(format, args...)
		return nil, &refusal{name: errNameAccessDenied, text: text + " (Kapsule forwards only PackageKit's API to container " + quote(f.cfg.Container) + ")"}
	}
	what := m.iface + "." + m.member
	switch m.iface {
	case "":
		return deny("method call %q on %s without an interface refused", m.member, m.path)
	case pkIface, pkOfflineIface:
		methods := daemonMethods
		if m.iface == pkOfflineIface {
			methods = offlineMethods
		}
		if !methods[m.member] {
			return deny("method %s refused: not a PackageKit method", what)
		}
		if m.path != pkPath {
			return deny("method %s on %s refused: PackageKit's daemon object is %s", what, m.path, pkPath)
		}
	case pkTxIface:
		if !transactionMethods[m.member] {
			return deny("method %s refused: not a PackageKit method", what)
		}
		if !isTransactionPath(m.path) {
			return deny("method %s on %s refused: not a PackageKit transaction path", what, m.path)
		}
	case propsIface:
		if m.member == "Set" {
			return deny("method %s on %s refused: PackageKit's properties are read-only", what, m.path)
		}
		if m.member != "Get" && m.member != "GetAll" {
			return deny("method %s refused: only Get and GetAll are forwarded", what)
		}
		if !isPackageKitObject(m.path) {
			return deny("method %s on %s refused: not a PackageKit object", what, m.path)
		}
	case introIface:
		if m.member != "Introspect" {
			return deny("method %s refused", what)
		}
		if !introspectablePaths[m.path] && !isTransactionPath(m.path) {
			return deny("method %s on %s refused: not a PackageKit object", what, m.path)
		}
	default:
		return deny("interface %q refused (method %s on %s)", m.iface, m.member, m.path)
	}
	if m.iface != pkTxIface {
		return m.body, nil
	}
	switch m.member {
	case "SetHints":
		return f.rewriteHints(m)
	case "InstallFiles":
		return f.checkPaths(m, "tas")
	case "GetDetailsLocal", "GetFilesLocal":
		return f.checkPaths(m, "as")
	}
	return m.body, nil
}

// rewriteHints drops every frontend-socket= hint: it names a socket on the
// host, which PackageKit in the container cannot open, and SetHints fails
// (aborting the client's transaction) when the path does not exist there.
func (f *Forwarder) rewriteHints(m *message) ([]byte, *refusal) {
	if m.sig != "as" {
		return nil, &refusal{errNameInvalidArgs, fmt.Sprintf("SetHints takes signature \"as\", not %q", m.sig)}
	}
	d := decoder{b: m.body, order: m.order}
	hints, err := d.strings()
	if err != nil {
		return nil, &refusal{errNameInvalidArgs, "SetHints: " + err.Error()}
	}
	kept := hints[:0:0]
	for _, h := range hints {
		if !strings.HasPrefix(h, "frontend-socket=") {
			kept = append(kept, h)
		}
	}
	if len(kept) == len(hints) {
		return m.body, nil
	}
	e := encoder{order: m.order}
	e.strings(kept)
	return e.b, nil
}

// checkPaths applies the CheckPath hook to the file names of InstallFiles,
// GetDetailsLocal and GetFilesLocal: PackageKit opens them in the
// container's filesystem.
func (f *Forwarder) checkPaths(m *message, sig string) ([]byte, *refusal) {
	if m.sig != sig {
		return nil, &refusal{errNameInvalidArgs, fmt.Sprintf("%s takes signature %q, not %q", m.member, sig, m.sig)}
	}
	if f.cfg.CheckPath == nil {
		return m.body, nil
	}
	d := decoder{b: m.body, order: m.order}
	if sig == "tas" {
		if _, err := d.uint64(); err != nil {
			return nil, &refusal{errNameInvalidArgs, m.member + ": " + err.Error()}
		}
	}
	paths, err := d.strings()
	if err != nil {
		return nil, &refusal{errNameInvalidArgs, m.member + ": " + err.Error()}
	}
	for _, p := range paths {
		if err := f.cfg.CheckPath(p); err != nil {
			return nil, &refusal{errNameNoSuchFile, err.Error()}
		}
	}
	return m.body, nil
}

func quote(s string) string { return fmt.Sprintf("%q", s) }
