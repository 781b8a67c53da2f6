//go:build e2e

package packagekit

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"invent.kde.org/kapsule/kapsule/testbed"
)

// TestE2EChanges installs, removes and updates packages with the real
// PackageKit and checks the result with dpkg in the container.
func TestE2EChanges(t *testing.T) {
	t.Parallel()
	container, pk := e2eContainer(t, "pk-change")
	ctx := e2eCtx(t)
	if _, err := pk.Run(ctx, RefreshCache(false)); err != nil {
		t.Fatal(err)
	}

	t.Run("install then remove", func(t *testing.T) {
		res, err := pk.Run(ctx, Resolve(BitfieldOf(FilterNotInstalled), []string{fixtureExtra}))
		if err != nil || len(res.Packages) == 0 {
			t.Fatalf("resolve %s: %+v, %v", fixtureExtra, res, err)
		}
		extra := res.Packages[0].ID

		var statuses []Status
		var items []ItemProgress
		res, err = pk.Run(ctx, InstallPackages(0, []PackageID{extra}), WithProgress(func(p Progress) {
			statuses = appendNew(statuses, p.Status)
			if p.Item.ID != "" && (len(items) == 0 || items[len(items)-1] != p.Item) {
				items = append(items, p.Item)
			}
		}))
		if err != nil {
			t.Fatalf("install %s: %v", extra, err)
		}
		t.Logf("install took %v; statuses %v; %d item progress reports", res.Runtime, statuses, len(items))
		if got := dpkgStatus(t, container, fixtureExtra); got != "installed 1.0" {
			t.Errorf("dpkg after install: %q, want installed 1.0", got)
		}
		if len(res.PackagesWithInfo(InfoInstalling)) == 0 || !slices.Contains(statuses, StatusInstall) || len(items) == 0 {
			t.Errorf("install reported packages %+v, statuses %v, items %+v", res.Packages, statuses, items)
		}

		res, err = pk.Run(ctx, Resolve(BitfieldOf(FilterInstalled), []string{fixtureExtra}))
		if err != nil || len(res.Packages) != 1 {
			t.Fatalf("resolve installed %s: %+v, %v", fixtureExtra, res, err)
		}
		res, err = pk.Run(ctx, RemovePackages(0, []PackageID{res.Packages[0].ID}, false, false))
		if err != nil {
			t.Fatalf("remove: %v", err)
		}
		if got := dpkgStatus(t, container, fixtureExtra); strings.HasPrefix(got, "installed") {
			t.Errorf("dpkg after remove: %q", got)
		}
		if len(res.PackagesWithInfo(InfoRemoving)) == 0 {
			t.Errorf("remove reported %+v", res.Packages)
		}
	})

	t.Run("update, simulated then for real", func(t *testing.T) {
		res, err := pk.Run(ctx, GetUpdates(NoFilter))
		if err != nil || len(res.Packages) != 1 {
			t.Fatalf("updates: %+v, %v", res, err)
		}
		update := res.Packages[0].ID

		res, err = pk.Run(ctx, UpdatePackages(BitfieldOf(TransactionFlagSimulate), []PackageID{update}))
		if err != nil {
			t.Fatalf("simulated update: %v", err)
		}
		if got := dpkgStatus(t, container, fixture); got != "installed 1.0" {
			t.Errorf("dpkg after a simulated update: %q, want installed 1.0", got)
		}
		if got := res.PackagesWithInfo(InfoUpdating); len(got) != 1 || got[0].ID != update {
			t.Errorf("simulation reported %+v, want %s updating", res.Packages, update)
		}

		res, err = pk.Run(ctx, UpdatePackages(0, []PackageID{update}))
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		if got := dpkgStatus(t, container, fixture); got != "installed 1.1" {
			t.Errorf("dpkg after the update: %q, want installed 1.1", got)
		}
		res, err = pk.Run(ctx, GetUpdates(NoFilter))
		if err != nil || len(res.Packages) != 0 {
			t.Errorf("updates after updating: %+v, %v; want none", res, err)
		}
	})

	t.Run("install of a package that does not exist", func(t *testing.T) {
		_, err := pk.Run(ctx, InstallPackages(0, []PackageID{"kapsule-no-such-package;9.9;all;local"}))
		var te *TransactionError
		if !errors.As(err, &te) {
			t.Fatalf("err = %v, want a *TransactionError", err)
		}
		t.Logf("error: %v", err)
		if te.Exit != ExitFailed || te.Code != ErrorCodePackageNotFound || te.Role != RoleInstallPackages {
			t.Errorf("error = %+v", te)
		}
	})

	t.Run("method refused by the daemon", func(t *testing.T) {
		// Bypass the client's own check to see the daemon's answer.
		bad := action(RoleInstallPackages, "InstallPackages", uint64(0), []string{"not-a-package-id"})
		_, err := pk.Run(ctx, bad)
		var me *MethodError
		if !errors.As(err, &me) || me.Name != "org.freedesktop.PackageKit.Transaction.PackageIdInvalid" || !errors.Is(err, ErrInvalidInput) {
			t.Errorf("err = %v, want a PackageIdInvalid *MethodError", err)
		}
	})

	t.Run("history", func(t *testing.T) {
		res, err := pk.Run(ctx, GetOldTransactions(0))
		if err != nil {
			t.Fatal(err)
		}
		var roles []Role
		for _, p := range res.Transactions {
			if p.Succeeded {
				roles = appendNew(roles, p.Role)
			}
		}
		for _, r := range []Role{RoleInstallPackages, RoleRemovePackages, RoleUpdatePackages} {
			if !slices.Contains(roles, r) {
				t.Errorf("history lacks a successful %s: %+v", r, res.Transactions)
			}
		}
	})
}

// TestE2ELongTransactions uses dpkg's lock to keep a transaction waiting
// (the apt backend retries for 10 s) and cancels it, then kills the daemon
// under a waiting one.
func TestE2ELongTransactions(t *testing.T) {
	t.Parallel()
	container, pk := e2eContainer(t, "pk-long")
	ctx := e2eCtx(t)
	res, err := pk.Run(ctx, Resolve(BitfieldOf(FilterNotInstalled), []string{fixtureExtra}))
	if err != nil || len(res.Packages) == 0 {
		t.Fatalf("resolve %s: %+v, %v", fixtureExtra, res, err)
	}
	extra := []PackageID{res.Packages[0].ID}
	release := holdDpkgLock(t, container)

	// waiting runs an install until it waits for the lock, then calls do.
	waiting := func(ctx context.Context, do func()) (time.Time, error) {
		var once sync.Once
		var at time.Time
		_, err := pk.Run(ctx, InstallPackages(0, extra), WithProgress(func(p Progress) {
			if p.Status == StatusWaitingForLock {
				once.Do(func() { at = time.Now(); do() })
			}
		}))
		return at, err
	}

	t.Run("cancel by context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		at, err := waiting(cctx, cancel)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
		if d := time.Since(at); d > 3*time.Second {
			t.Errorf("Run returned %v after the cancellation", d)
		}
		// The daemon finishes the cancelled transaction by itself.
		deadline := time.Now().Add(30 * time.Second)
		for {
			list, err := pk.GetTransactionList(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) == 0 {
				t.Logf("the daemon dropped the cancelled transaction %v after the cancellation", time.Since(at).Round(time.Second))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("transactions still listed 30 s after the cancellation: %v", list)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("daemon killed", func(t *testing.T) {
		at, err := waiting(ctx, func() {
			testbed.Incus(t, "exec", container, "--", "systemctl", "kill", "--signal=KILL", "packagekit.service")
		})
		if !errors.Is(err, ErrDaemonVanished) {
			t.Fatalf("Run = %v, want ErrDaemonVanished", err)
		}
		t.Logf("Run returned %v after the kill was sent: %v", time.Since(at).Round(time.Millisecond), err)
	})

	t.Run("the next transaction starts a new daemon", func(t *testing.T) {
		release()
		res, err := pk.Run(ctx, InstallPackages(0, extra))
		if err != nil {
			t.Fatal(err)
		}
		if got := dpkgStatus(t, container, fixtureExtra); got != "installed 1.0" {
			t.Errorf("dpkg: %q, want installed 1.0 (%+v)", got, res.Packages)
		}
	})
}
