//go:build e2e

package packagekit

import (
	"context"
	"encoding/xml"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
)

// TestE2EQueries runs the read-only actions against the real PackageKit of
// a fresh container.
func TestE2EQueries(t *testing.T) {
	t.Parallel()
	_, pk := e2eContainer(t, "pk-query")
	ctx := e2eCtx(t)

	t.Run("daemon properties", func(t *testing.T) {
		p, err := pk.Properties(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("PackageKit %s, backend %s, distro %s, roles %v", p.Version(), p.BackendName, p.DistroID, p.Roles)
		if p.BackendName != "apt" || p.NetworkState != NetworkOnline || p.VersionMajor != 1 {
			t.Errorf("backend %q, network %v, version %s; want apt, online, 1.x", p.BackendName, p.NetworkState, p.Version())
		}
		for _, r := range []Role{RoleRefreshCache, RoleGetUpdates, RoleUpdatePackages, RoleInstallPackages, RoleRemovePackages, RoleCancel} {
			if !p.Roles.Has(r) {
				t.Errorf("roles lack %s", r)
			}
		}
		if !p.Filters.Has(FilterInstalled) || !strings.HasPrefix(p.DistroID, "debian;12;") {
			t.Errorf("filters %v, distro %q", p.Filters, p.DistroID)
		}
		if a, err := pk.CanAuthorize(ctx, "org.freedesktop.packagekit.package-install"); err != nil || a != AuthorizeYes {
			t.Errorf("CanAuthorize = %v, %v; want yes (the bridge is root in the container)", a, err)
		}
	})

	t.Run("refresh cache", func(t *testing.T) {
		var statuses []Status
		res, err := pk.Run(ctx, RefreshCache(false), WithProgress(func(p Progress) {
			if p.Role != RoleRefreshCache {
				t.Errorf("progress with role %s", p.Role)
			}
			statuses = appendNew(statuses, p.Status)
		}))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("refresh took %v; statuses %v", res.Runtime, statuses)
		if !slices.Contains(statuses, StatusRefreshCache) || statuses[len(statuses)-1] != StatusFinished {
			t.Errorf("statuses %v: want refresh-cache among them and finished last", statuses)
		}
	})

	var update Package
	t.Run("get updates", func(t *testing.T) {
		var res *Result
		var err error
		seen := watchSignals(t, pk, func() { res, err = pk.Run(ctx, GetUpdates(NoFilter)) })
		if err != nil {
			t.Fatal(err)
		}
		// Client.Run asks for plural signals, and PackageKit 1.2.6 uses them.
		if got := seen[res.Path]; !slices.Contains(got, "Packages") || slices.Contains(got, "Package") {
			t.Errorf("signals of the transaction: %v; want Packages, not Package", got)
		}
		if len(res.Packages) != 1 {
			t.Fatalf("updates = %+v, want exactly %s 1.1", res.Packages, fixture)
		}
		update = res.Packages[0]
		t.Logf("update: %s (%s, severity %s)", update.ID, update.Info, update.Severity)
		if update.ID.Name() != fixture || update.ID.Version() != "1.1" || update.ID.Arch() != "all" || update.ID.Installed() {
			t.Errorf("update %s, want %s;1.1;all;<repo>", update.ID, fixture)
		}
		if !slices.Contains(updateKinds, update.Info) {
			t.Errorf("update info %s is not a kind of update", update.Info)
		}
	})
	if update.ID == "" {
		t.Fatal("no update to look at")
	}

	t.Run("get updates without plural signals", func(t *testing.T) {
		tx, err := pk.CreateTransaction(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var res *Result
		seen := watchSignals(t, pk, func() { res, err = tx.Run(ctx, GetUpdates(NoFilter)) }) // no hints
		if err != nil {
			t.Fatal(err)
		}
		if got := seen[tx.Path()]; !slices.Contains(got, "Package") || slices.Contains(got, "Packages") {
			t.Errorf("signals of the transaction: %v; want Package, not Packages", got)
		}
		if !slices.Equal(res.Packages, []Package{update}) {
			t.Errorf("updates = %+v, want %+v", res.Packages, update)
		}
	})

	t.Run("update detail", func(t *testing.T) {
		res, err := pk.Run(ctx, GetUpdateDetail([]PackageID{update.ID}))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.UpdateDetails) != 1 {
			t.Fatalf("update details = %+v", res.UpdateDetails)
		}
		d := res.UpdateDetails[0]
		if d.ID != update.ID || len(d.Updates) != 1 || d.Updates[0].Name() != fixture || d.Updates[0].Version() != "1.0" {
			t.Errorf("update detail = %+v, want it to replace %s 1.0", d, fixture)
		}
	})

	t.Run("details", func(t *testing.T) {
		res, err := pk.Run(ctx, GetDetails([]PackageID{update.ID}))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Details) != 1 {
			t.Fatalf("details = %+v", res.Details)
		}
		d := res.Details[0]
		if d.ID != update.ID || !strings.Contains(d.Summary, "1.1") || d.Description == "" || d.Size == 0 {
			t.Errorf("details = %+v", d)
		}
	})

	var installed PackageID
	t.Run("resolve", func(t *testing.T) {
		res, err := pk.Run(ctx, Resolve(BitfieldOf(FilterInstalled), []string{fixture}))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Packages) != 1 {
			t.Fatalf("installed %s = %+v, want one", fixture, res.Packages)
		}
		p := res.Packages[0]
		installed = p.ID
		if p.Info != InfoInstalled || !p.ID.Installed() || p.ID.Version() != "1.0" {
			t.Errorf("installed %s = %+v", fixture, p)
		}
		res, err = pk.Run(ctx, Resolve(BitfieldOf(FilterNotInstalled), []string{fixtureExtra}))
		if err != nil {
			t.Fatal(err)
		}
		if got := res.PackagesWithInfo(InfoAvailable); len(got) != 1 || got[0].ID.Name() != fixtureExtra {
			t.Errorf("available %s = %+v", fixtureExtra, res.Packages)
		}
	})

	t.Run("search names", func(t *testing.T) {
		res, err := pk.Run(ctx, SearchNames(NoFilter, []string{fixture}))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range res.Packages {
			names = append(names, p.ID.Name()+" "+p.Info.String())
		}
		slices.Sort(names)
		names = slices.Compact(names)
		if want := []string{fixture + " installed", fixtureExtra + " available"}; !slices.Equal(names, want) {
			t.Errorf("found %q, want %q", names, want)
		}
	})

	t.Run("files", func(t *testing.T) {
		if installed == "" {
			t.Skip("resolve failed")
		}
		res, err := pk.Run(ctx, GetFiles([]PackageID{installed}))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Files) != 1 || !slices.Contains(res.Files[0].Files, "/usr/share/kapsule-fixture/version") {
			t.Errorf("files = %+v", res.Files)
		}
	})

	t.Run("repo list", func(t *testing.T) {
		res, err := pk.Run(ctx, GetRepoList(NoFilter))
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, r := range res.Repos {
			t.Logf("repo %q (%q) enabled=%t", r.ID, r.Description, r.Enabled)
			if strings.Contains(r.ID+r.Description, fixtureRepo) && r.Enabled {
				found = true
			}
		}
		if !found {
			t.Errorf("no enabled repository at %s in %+v", fixtureRepo, res.Repos)
		}
	})

	t.Run("concurrent transactions on one connection", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				res, err := pk.Run(ctx, GetUpdates(NoFilter))
				if err != nil || !slices.Equal(res.Packages, []Package{update}) {
					t.Errorf("GetUpdates = %+v, %v", res, err)
				}
			})
			wg.Go(func() {
				res, err := pk.Run(ctx, Resolve(NoFilter, []string{fixtureExtra}))
				if err != nil || len(res.Packages) == 0 {
					t.Errorf("Resolve = %+v, %v", res, err)
					return
				}
				for _, p := range res.Packages {
					if p.ID.Name() != fixtureExtra {
						t.Errorf("Resolve(%s) got %s", fixtureExtra, p.ID)
					}
				}
			})
		}
		wg.Wait()
	})

	t.Run("actions match the daemon's interface", func(t *testing.T) {
		checkActionsAgainstIntrospection(t, ctx, pk)
	})
}

// checkActionsAgainstIntrospection compares every action's method and
// argument signature with the Transaction interface the daemon exports.
func checkActionsAgainstIntrospection(t *testing.T, ctx context.Context, pk *Client) {
	tx, err := pk.CreateTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	var data string
	err = pk.Conn().Object(pk.Destination(), tx.Path()).CallWithContext(ctx,
		"org.freedesktop.DBus.Introspectable.Introspect", 0).Store(&data)
	if err != nil {
		t.Fatal(err)
	}
	node, err := parseIntrospection(data)
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]string{}
	for _, iface := range node.Interfaces {
		if iface.Name != TransactionInterface {
			continue
		}
		for _, m := range iface.Methods {
			var sig strings.Builder
			for _, a := range m.Args {
				if a.Direction == "in" || a.Direction == "" {
					sig.WriteString(a.Type)
				}
			}
			in[m.Name] = sig.String()
		}
	}
	if len(in) == 0 {
		t.Fatalf("no %s in the introspection data", TransactionInterface)
	}
	id := MustPackageID("x;1;all;r")
	ids := []PackageID{id}
	for _, a := range []Action{
		RefreshCache(false), GetUpdates(NoFilter), GetUpdateDetail(ids), GetDetails(ids),
		GetPackages(NoFilter), Resolve(NoFilter, []string{"x"}), SearchNames(NoFilter, []string{"x"}),
		SearchDetails(NoFilter, []string{"x"}), SearchFiles(NoFilter, []string{"x"}),
		SearchGroups(NoFilter, []string{"x"}), WhatProvides(NoFilter, []string{"x"}),
		InstallPackages(0, ids), UpdatePackages(0, ids), RemovePackages(0, ids, false, false),
		DownloadPackages(true, ids), DependsOn(NoFilter, ids, false), RequiredBy(NoFilter, ids, false),
		GetFiles(ids), GetRepoList(NoFilter), RepoEnable("r", true), GetOldTransactions(1),
	} {
		want, ok := in[a.Method()]
		if got := dbus.SignatureOf(a.args...).String(); !ok || got != want {
			t.Errorf("%s sends %q, the daemon takes %q (exported: %t)", a.Method(), got, want, ok)
		}
	}
	for _, m := range []string{"SetHints", "Cancel"} {
		if _, ok := in[m]; !ok {
			t.Errorf("daemon lacks %s", m)
		}
	}
}

func parseIntrospection(data string) (*introspect.Node, error) {
	var node introspect.Node
	if err := xml.Unmarshal([]byte(data), &node); err != nil {
		return nil, err
	}
	return &node, nil
}

// watchSignals runs fn and returns the members of the transaction signals
// the client's connection received meanwhile, by object path.
func watchSignals(t *testing.T, pk *Client, fn func()) map[dbus.ObjectPath][]string {
	t.Helper()
	ch := make(chan *dbus.Signal, 1024)
	pk.Conn().Signal(ch)
	fn()
	pk.Conn().RemoveSignal(ch)
	seen := map[dbus.ObjectPath][]string{}
	for {
		select {
		case sig := <-ch:
			if member, ok := strings.CutPrefix(sig.Name, TransactionInterface+"."); ok {
				seen[sig.Path] = append(seen[sig.Path], member)
			}
		default:
			return seen
		}
	}
}
