package packagekit

import (
	"errors"
	"testing"

	"github.com/godbus/dbus/v5"
)

// TestActionSignatures checks each action's method name, role and D-Bus
// argument signature against PackageKit's Transaction interface
// (protocols.md A.4). The end-to-end test checks the same against the
// introspection data of the real daemon.
func TestActionSignatures(t *testing.T) {
	t.Parallel()
	id := MustPackageID("kapsule-fixture;1.1;all;local")
	ids := []PackageID{id}
	tests := []struct {
		name   string
		action Action
		method string
		role   Role
		sig    string
	}{
		{"refresh cache", RefreshCache(false), "RefreshCache", RoleRefreshCache, "b"},
		{"get updates", GetUpdates(NoFilter), "GetUpdates", RoleGetUpdates, "t"},
		{"get update detail", GetUpdateDetail(ids), "GetUpdateDetail", RoleGetUpdateDetail, "as"},
		{"get details", GetDetails(ids), "GetDetails", RoleGetDetails, "as"},
		{"get packages", GetPackages(NoFilter), "GetPackages", RoleGetPackages, "t"},
		{"resolve", Resolve(NoFilter, []string{"bash"}), "Resolve", RoleResolve, "tas"},
		{"search names", SearchNames(NoFilter, []string{"kapsule"}), "SearchNames", RoleSearchName, "tas"},
		{"search details", SearchDetails(NoFilter, []string{"fixture"}), "SearchDetails", RoleSearchDetails, "tas"},
		{"search files", SearchFiles(NoFilter, []string{"/usr/bin/bash"}), "SearchFiles", RoleSearchFile, "tas"},
		{"search groups", SearchGroups(NoFilter, []string{"system"}), "SearchGroups", RoleSearchGroup, "tas"},
		{"what provides", WhatProvides(NoFilter, []string{"x"}), "WhatProvides", RoleWhatProvides, "tas"},
		{"install packages", InstallPackages(0, ids), "InstallPackages", RoleInstallPackages, "tas"},
		{"update packages", UpdatePackages(BitfieldOf(TransactionFlagSimulate), ids), "UpdatePackages", RoleUpdatePackages, "tas"},
		{"remove packages", RemovePackages(0, ids, false, true), "RemovePackages", RoleRemovePackages, "tasbb"},
		{"download packages", DownloadPackages(true, ids), "DownloadPackages", RoleDownloadPackages, "bas"},
		{"depends on", DependsOn(NoFilter, ids, true), "DependsOn", RoleDependsOn, "tasb"},
		{"required by", RequiredBy(NoFilter, ids, false), "RequiredBy", RoleRequiredBy, "tasb"},
		{"get files", GetFiles(ids), "GetFiles", RoleGetFiles, "as"},
		{"get repo list", GetRepoList(NoFilter), "GetRepoList", RoleGetRepoList, "t"},
		{"repo enable", RepoEnable("main", false), "RepoEnable", RoleRepoEnable, "sb"},
		{"get old transactions", GetOldTransactions(10), "GetOldTransactions", RoleGetOldTransactions, "u"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.action
			if a.err != nil {
				t.Fatalf("unexpected error: %v", a.err)
			}
			if a.Method() != tt.method || a.Role() != tt.role {
				t.Errorf("method, role = %s, %s; want %s, %s", a.Method(), a.Role(), tt.method, tt.role)
			}
			if got := dbus.SignatureOf(a.args...).String(); got != tt.sig {
				t.Errorf("signature = %q, want %q", got, tt.sig)
			}
		})
	}
}

func TestActionArgumentValues(t *testing.T) {
	t.Parallel()
	a := RemovePackages(BitfieldOf(TransactionFlagSimulate), []PackageID{"a;1;all;installed", "b;2;all;installed"}, true, false)
	want := []any{uint64(4), []string{"a;1;all;installed", "b;2;all;installed"}, true, false}
	if len(a.args) != len(want) {
		t.Fatalf("args = %#v", a.args)
	}
	if a.args[0] != want[0] || a.args[2] != want[2] || a.args[3] != want[3] {
		t.Errorf("args = %#v, want %#v", a.args, want)
	}
	if got := a.args[1].([]string); len(got) != 2 || got[0] != "a;1;all;installed" || got[1] != "b;2;all;installed" {
		t.Errorf("ids = %q", got)
	}
	if f := GetUpdates(NoFilter).args[0]; f != uint64(2) {
		t.Errorf("GetUpdates(NoFilter) sends filter %v, want 2", f)
	}
}

func TestActionRejectsBadArguments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		action Action
		want   error
	}{
		{"no package ids", InstallPackages(0, nil), ErrInvalidInput},
		{"invalid package id", GetDetails([]PackageID{"bash"}), ErrInvalidPackageID},
		{"one bad id among good ones", UpdatePackages(0, []PackageID{"a;1;all;r", "b;1;all"}), ErrInvalidPackageID},
		{"no names to resolve", Resolve(NoFilter, nil), ErrInvalidInput},
		{"empty search term", SearchNames(NoFilter, []string{"ok", ""}), ErrInvalidInput},
		{"search term too long", SearchDetails(NoFilter, []string{string(make([]byte, MaxStringLen))}), ErrInvalidInput},
		{"invalid UTF-8", WhatProvides(NoFilter, []string{"\xff"}), ErrInvalidInput},
		{"empty repository id", RepoEnable("", true), ErrInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.action.err, tt.want) {
				t.Errorf("err = %v, want %v", tt.action.err, tt.want)
			}
		})
	}
}
