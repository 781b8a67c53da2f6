package packagekit

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Action is the one action method a transaction runs, with its arguments:
// build it with the functions named after PackageKit's methods below (e.g.
// GetUpdates(NoFilter)) and pass it to Client.Run or Transaction.Run.
// Arguments are checked when the Action is built; a bad one makes Run fail
// before anything is sent.
type Action struct {
	role   Role
	method string
	args   []any
	err    error
}

// Role returns the role the transaction gets from this action.
func (a Action) Role() Role { return a.role }

// Method returns the D-Bus method name, e.g. "GetUpdates".
func (a Action) Method() string { return a.method }

// String returns the method name.
func (a Action) String() string { return a.method }

func action(role Role, method string, args ...any) Action {
	return Action{role: role, method: method, args: args}
}

func (a Action) withError(err error) Action {
	if err != nil && a.err == nil {
		a.err = fmt.Errorf("packagekit %s: %w", a.method, err)
	}
	return a
}

// checkStrings applies the daemon's rules for string lists: not empty, each
// string not empty, valid UTF-8, shorter than MaxStringLen bytes.
func checkStrings(what string, values []string) error {
	if len(values) == 0 {
		return fmt.Errorf("%w: no %s", ErrInvalidInput, what)
	}
	for _, v := range values {
		switch {
		case v == "":
			return fmt.Errorf("%w: empty %s", ErrInvalidInput, what)
		case len(v) >= MaxStringLen:
			return fmt.Errorf("%w: %s of %d bytes, the limit is %d", ErrInvalidInput, what, len(v), MaxStringLen-1)
		case !utf8.ValidString(v), strings.IndexByte(v, 0) >= 0:
			return fmt.Errorf("%w: %s %q is not valid UTF-8 text", ErrInvalidInput, what, v)
		}
	}
	return nil
}

func withStrings(role Role, method, what string, filter Filters, values []string) Action {
	return action(role, method, uint64(filter), values).withError(checkStrings(what, values))
}

// RefreshCache downloads fresh package lists; force ignores the cache age.
func RefreshCache(force bool) Action {
	return action(RoleRefreshCache, "RefreshCache", force)
}

// GetUpdates lists available updates as Package signals; their Info is the
// kind of update (InfoNormal, InfoSecurity, ...).
func GetUpdates(filter Filters) Action {
	return action(RoleGetUpdates, "GetUpdates", uint64(filter))
}

// GetUpdateDetail describes updates (changelog, CVEs, restart needs).
func GetUpdateDetail(ids []PackageID) Action {
	s, err := packageIDStrings(ids)
	return action(RoleGetUpdateDetail, "GetUpdateDetail", s).withError(err)
}

// GetDetails returns Details (description, size, license, ...) of packages.
func GetDetails(ids []PackageID) Action {
	s, err := packageIDStrings(ids)
	return action(RoleGetDetails, "GetDetails", s).withError(err)
}

// GetPackages lists all packages that pass the filter.
func GetPackages(filter Filters) Action {
	return action(RoleGetPackages, "GetPackages", uint64(filter))
}

// Resolve turns package names (or full package IDs, or "@category") into
// packages.
func Resolve(filter Filters, packages []string) Action {
	return withStrings(RoleResolve, "Resolve", "package name", filter, packages)
}

// SearchNames finds packages whose name contains all the values.
func SearchNames(filter Filters, values []string) Action {
	return withStrings(RoleSearchName, "SearchNames", "search term", filter, values)
}

// SearchDetails finds packages whose name or description contains the values.
func SearchDetails(filter Filters, values []string) Action {
	return withStrings(RoleSearchDetails, "SearchDetails", "search term", filter, values)
}

// SearchFiles finds packages that hold the files (absolute paths or base
// names).
func SearchFiles(filter Filters, files []string) Action {
	return withStrings(RoleSearchFile, "SearchFiles", "file", filter, files)
}

// SearchGroups finds packages in the groups (Group names or "@category").
func SearchGroups(filter Filters, groups []string) Action {
	return withStrings(RoleSearchGroup, "SearchGroups", "group", filter, groups)
}

// WhatProvides finds packages that provide the values (e.g. "gstreamer1(...)").
func WhatProvides(filter Filters, values []string) Action {
	return withStrings(RoleWhatProvides, "WhatProvides", "provide", filter, values)
}

// InstallPackages installs packages (IDs of available packages).
func InstallPackages(flags TransactionFlags, ids []PackageID) Action {
	s, err := packageIDStrings(ids)
	return action(RoleInstallPackages, "InstallPackages", uint64(flags), s).withError(err)
}

// UpdatePackages updates to the given package IDs (as listed by GetUpdates).
func UpdatePackages(flags TransactionFlags, ids []PackageID) Action {
	s, err := packageIDStrings(ids)
	return action(RoleUpdatePackages, "UpdatePackages", uint64(flags), s).withError(err)
}

// RemovePackages removes installed packages; allowDeps also removes what
// depends on them, autoremove also what they alone pulled in.
func RemovePackages(flags TransactionFlags, ids []PackageID, allowDeps, autoremove bool) Action {
	s, err := packageIDStrings(ids)
	return action(RoleRemovePackages, "RemovePackages", uint64(flags), s, allowDeps, autoremove).withError(err)
}

// DownloadPackages downloads package files; storeInCache keeps them in the
// package manager's cache instead of a directory reported by Files signals.
// Paths are in the daemon's file system (the container's).
func DownloadPackages(storeInCache bool, ids []PackageID) Action {
	s, err := packageIDStrings(ids)
	return action(RoleDownloadPackages, "DownloadPackages", storeInCache, s).withError(err)
}

// DependsOn lists the packages the given ones depend on.
func DependsOn(filter Filters, ids []PackageID, recursive bool) Action {
	s, err := packageIDStrings(ids)
	return action(RoleDependsOn, "DependsOn", uint64(filter), s, recursive).withError(err)
}

// RequiredBy lists the packages that depend on the given ones.
func RequiredBy(filter Filters, ids []PackageID, recursive bool) Action {
	s, err := packageIDStrings(ids)
	return action(RoleRequiredBy, "RequiredBy", uint64(filter), s, recursive).withError(err)
}

// GetFiles lists the files of packages as Files signals.
func GetFiles(ids []PackageID) Action {
	s, err := packageIDStrings(ids)
	return action(RoleGetFiles, "GetFiles", s).withError(err)
}

// GetRepoList lists repositories as RepoDetail signals.
func GetRepoList(filter Filters) Action {
	return action(RoleGetRepoList, "GetRepoList", uint64(filter))
}

// RepoEnable enables or disables a repository (an ID from GetRepoList).
func RepoEnable(repoID string, enabled bool) Action {
	return action(RoleRepoEnable, "RepoEnable", repoID, enabled).
		withError(checkStrings("repository id", []string{repoID}))
}

// GetOldTransactions lists the last number transactions (0: all) as
// Transaction signals.
func GetOldTransactions(number uint32) Action {
	return action(RoleGetOldTransactions, "GetOldTransactions", number)
}
