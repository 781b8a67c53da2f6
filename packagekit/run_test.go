package packagekit

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

func TestRunCollectsPackagesAndProgress(t *testing.T) {
	t.Parallel()
	emit := func(tx *fakeTx) {
		tx.props(map[string]any{"Role": uint32(RoleGetUpdates)})
		tx.props(map[string]any{"Status": uint32(StatusQuery), "Percentage": uint32(40)})
		tx.pkg(InfoSecurity, InfoCritical, "openssl;3.0.15;amd64;debian-security", "TLS")
		tx.emit("Packages", []wirePackage{
			{EncodeInfo(InfoNormal, InfoNormal), "kapsule-fixture;1.1;all;local", "fixture"},
			{EncodeInfo(InfoBugfix, InfoUnknown), "bash;5.2;amd64;debian", "shell"},
		})
		tx.emit("ItemProgress", "bash;5.2;amd64;debian", uint32(StatusDownload), uint32(75))
		tx.props(map[string]any{"Status": uint32(StatusFinished), "Percentage": uint32(100), "AllowCancel": false})
		tx.finish(ExitSuccess)
	}
	tests := []struct {
		name  string
		async bool
	}{
		{"signals before the method reply", false},
		{"signals after the method reply", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bus := newBus(t)
			f := startFake(t, bus, testName, nil)
			f.setScript(func(tx *fakeTx, method string, args []any) *dbus.Error {
				if method != "GetUpdates" || args[0] != uint64(NoFilter) {
					return dbus.MakeFailedError(fmt.Errorf("unexpected call %s%v", method, args))
				}
				if tt.async {
					f.goAsync(func() { emit(tx) })
				} else {
					emit(tx)
				}
				return nil
			})
			pk := newClient(t, bus, testName)
			var seen []Progress
			res, err := pk.Run(testCtx(t), GetUpdates(NoFilter), WithProgress(func(p Progress) { seen = append(seen, p) }))
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			want := []Package{
				{InfoSecurity, InfoCritical, "openssl;3.0.15;amd64;debian-security", "TLS"},
				{InfoNormal, InfoNormal, "kapsule-fixture;1.1;all;local", "fixture"},
				{InfoBugfix, InfoUnknown, "bash;5.2;amd64;debian", "shell"},
			}
			if !slices.Equal(res.Packages, want) {
				t.Errorf("packages = %+v\nwant %+v", res.Packages, want)
			}
			if res.Exit != ExitSuccess || res.Role != RoleGetUpdates || res.Runtime != 42*time.Millisecond {
				t.Errorf("exit %v, role %v, runtime %v", res.Exit, res.Role, res.Runtime)
			}
			if got := f.transactions()[0].gotHints(); !slices.Equal(got, []string{HintSupportsPluralSignals}) {
				t.Errorf("hints sent = %q", got)
			}
			// Progress: Role, Status+Percentage, ItemProgress, final properties.
			if len(seen) != 4 {
				t.Fatalf("progress reported %d times, want 4: %+v", len(seen), seen)
			}
			if p := seen[1]; p.Status != StatusQuery || p.Percentage != 40 || !p.AllowCancel {
				t.Errorf("second progress = %+v", p)
			}
			if p := seen[2]; p.Item != (ItemProgress{"bash;5.2;amd64;debian", StatusDownload, 75}) ||
				p.LastPackage != "bash;5.2;amd64;debian" {
				t.Errorf("item progress = %+v", p)
			}
			if p := seen[3]; p.Status != StatusFinished || p.Percentage != 100 || p.AllowCancel {
				t.Errorf("last progress = %+v", p)
			}
		})
	}
}

func TestRunDecodesEveryResultKind(t *testing.T) {
	t.Parallel()
	id := MustPackageID("kapsule-fixture;1.1;all;local")
	type wireUpdate = wireUpdateDetail
	tests := []struct {
		name   string
		action Action
		emit   func(tx *fakeTx)
		check  func(t *testing.T, r *Result)
	}{
		{
			name:   "details",
			action: GetDetails([]PackageID{id}),
			emit: func(tx *fakeTx) {
				tx.emit("Details", map[string]dbus.Variant{
					"package-id": dbus.MakeVariant(string(id)), "group": dbus.MakeVariant(uint32(GroupOther)),
					"summary": dbus.MakeVariant("fixture"), "description": dbus.MakeVariant("A tiny package."),
					"license": dbus.MakeVariant("unknown"), "size": dbus.MakeVariant(uint64(824)),
					"a-future-key": dbus.MakeVariant(true),
				})
			},
			check: func(t *testing.T, r *Result) {
				want := Details{ID: id, Group: GroupOther, Summary: "fixture", Description: "A tiny package.", License: "unknown", Size: 824}
				if len(r.Details) != 1 || r.Details[0] != want {
					t.Errorf("details = %+v, want %+v", r.Details, want)
				}
			},
		},
		{
			name:   "update details, singular then plural",
			action: GetUpdateDetail([]PackageID{id}),
			emit: func(tx *fakeTx) {
				tx.emit("UpdateDetail", string(id), []string{"kapsule-fixture;1.0;all;manual:local"}, []string{}, []string{"https://example.org"},
					[]string{}, []string{"CVE-2026-0001"}, uint32(RestartSystem), "text", "changes", uint32(UpdateStateStable), "2026-01-01", "")
				tx.emit("UpdateDetails", []wireUpdate{{ID: "bash;5.2;amd64;debian", Updates: []string{}, Obsoletes: []string{},
					VendorURLs: []string{}, BugzillaURLs: []string{}, CVEURLs: []string{}, Restart: uint32(RestartNone), State: uint32(UpdateStateTesting)}})
			},
			check: func(t *testing.T, r *Result) {
				if len(r.UpdateDetails) != 2 {
					t.Fatalf("update details = %+v", r.UpdateDetails)
				}
				u := r.UpdateDetails[0]
				if u.ID != id || !slices.Equal(u.Updates, []PackageID{"kapsule-fixture;1.0;all;manual:local"}) ||
					!slices.Equal(u.CVEURLs, []string{"CVE-2026-0001"}) || u.Restart != RestartSystem ||
					u.Changelog != "changes" || u.State != UpdateStateStable || u.Issued != "2026-01-01" {
					t.Errorf("first = %+v", u)
				}
				if u := r.UpdateDetails[1]; u.ID != "bash;5.2;amd64;debian" || u.State != UpdateStateTesting {
					t.Errorf("second = %+v", u)
				}
			},
		},
		{
			name:   "repositories",
			action: GetRepoList(NoFilter),
			emit: func(tx *fakeTx) {
				tx.emit("RepoDetail", "fixture", "file:/srv/kapsule-fixture", true)
				tx.emit("RepoDetail", "backports", "Debian backports", false)
			},
			check: func(t *testing.T, r *Result) {
				want := []RepoDetail{{"fixture", "file:/srv/kapsule-fixture", true}, {"backports", "Debian backports", false}}
				if !slices.Equal(r.Repos, want) {
					t.Errorf("repos = %+v", r.Repos)
				}
			},
		},
		{
			name:   "files",
			action: GetFiles([]PackageID{id}),
			emit: func(tx *fakeTx) {
				tx.emit("Files", string(id), []string{"/usr/share/kapsule-fixture/version"})
			},
			check: func(t *testing.T, r *Result) {
				if len(r.Files) != 1 || r.Files[0].ID != id || !slices.Equal(r.Files[0].Files, []string{"/usr/share/kapsule-fixture/version"}) {
					t.Errorf("files = %+v", r.Files)
				}
			},
		},
		{
			name:   "restart required during install",
			action: InstallPackages(0, []PackageID{id}),
			emit: func(tx *fakeTx) {
				tx.pkg(InfoInstalling, InfoUnknown, string(id), "fixture")
				tx.emit("RequireRestart", uint32(RestartSession), string(id))
			},
			check: func(t *testing.T, r *Result) {
				if !slices.Equal(r.Restarts, []RestartRequest{{RestartSession, id}}) {
					t.Errorf("restarts = %+v", r.Restarts)
				}
				if got := r.PackagesWithInfo(InfoInstalling); len(got) != 1 {
					t.Errorf("installing packages = %+v", got)
				}
			},
		},
		{
			name:   "old transactions",
			action: GetOldTransactions(1),
			emit: func(tx *fakeTx) {
				tx.emit("Transaction", dbus.ObjectPath("/12_abc"), "2026-11-25T20:53:45.392061Z", true, uint32(RoleRemovePackages),
					uint32(154), "removing\tx;1;all;manual:local\tX", uint32(0), "systemd-stdio-bridge")
			},
			check: func(t *testing.T, r *Result) {
				if len(r.Transactions) != 1 {
					t.Fatalf("transactions = %+v", r.Transactions)
				}
				p := r.Transactions[0]
				when, err := p.Time()
				if p.Path != "/12_abc" || !p.Succeeded || p.Role != RoleRemovePackages || p.Duration != 154*time.Millisecond ||
					p.Cmdline != "systemd-stdio-bridge" || err != nil || when.Year() != 2026 {
					t.Errorf("transaction = %+v, time %v, %v", p, when, err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bus := newBus(t)
			startFake(t, bus, testName, func(tx *fakeTx, method string, args []any) *dbus.Error {
				if method != tt.action.Method() {
					return dbus.MakeFailedError(fmt.Errorf("unexpected %s", method))
				}
				tt.emit(tx)
				tx.finish(ExitSuccess)
				return nil
			})
			res, err := newClient(t, bus, testName).Run(testCtx(t), tt.action)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			tt.check(t, res)
		})
	}
}

func TestFailedTransactionReturnsTransactionError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		emit      func(tx *fakeTx)
		want      TransactionError
		cancelled bool
	}{
		{
			name: "package not found",
			emit: func(tx *fakeTx) { tx.fail(ErrorCodePackageNotFound, "Could not find package(s)") },
			want: TransactionError{Role: RoleInstallPackages, Exit: ExitFailed, Code: ErrorCodePackageNotFound, Details: "Could not find package(s)"},
		},
		{
			name: "failed without an error code",
			emit: func(tx *fakeTx) { tx.finish(ExitFailed) },
			want: TransactionError{Role: RoleInstallPackages, Exit: ExitFailed},
		},
		{
			name: "only the first error code counts",
			emit: func(tx *fakeTx) {
				tx.emit("ErrorCode", uint32(ErrorCodeNoNetwork), "first")
				tx.fail(ErrorCodeInternalError, "second")
			},
			want: TransactionError{Role: RoleInstallPackages, Exit: ExitFailed, Code: ErrorCodeNoNetwork, Details: "first"},
		},
		{
			name: "cancelled by someone else",
			emit: func(tx *fakeTx) {
				tx.emit("ErrorCode", uint32(ErrorCodeTransactionCancelled), "The task was stopped successfully")
				tx.finish(ExitCancelled)
			},
			want:      TransactionError{Role: RoleInstallPackages, Exit: ExitCancelled, Code: ErrorCodeTransactionCancelled, Details: "The task was stopped successfully"},
			cancelled: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bus := newBus(t)
			startFake(t, bus, testName, func(tx *fakeTx, method string, args []any) *dbus.Error {
				tt.emit(tx)
				return nil
			})
			res, err := newClient(t, bus, testName).Run(testCtx(t), InstallPackages(0, []PackageID{"nope;1.0;all;local"}))
			var te *TransactionError
			if !errors.As(err, &te) {
				t.Fatalf("Run = %+v, %v; want a *TransactionError", res, err)
			}
			tt.want.Path = te.Path
			if *te != tt.want || te.Path == "" {
				t.Errorf("error = %+v, want %+v", *te, tt.want)
			}
			if errors.Is(err, ErrCancelled) != tt.cancelled {
				t.Errorf("errors.Is(err, ErrCancelled) = %t", !tt.cancelled)
			}
		})
	}
}

func TestRefusedMethodReturnsMethodError(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	startFake(t, bus, testName, func(tx *fakeTx, method string, args []any) *dbus.Error {
		tx.emit("Destroy") // the real daemon drops the transaction before replying
		return dbus.NewError("org.freedesktop.PackageKit.Transaction.PackageIdInvalid",
			[]any{"The package id's 'x;1;all;r' are not valid"})
	})
	_, err := newClient(t, bus, testName).Run(testCtx(t), InstallPackages(0, []PackageID{"x;1;all;r"}))
	var me *MethodError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v, want a *MethodError", err)
	}
	if me.Method != "InstallPackages" || me.Name != "org.freedesktop.PackageKit.Transaction.PackageIdInvalid" ||
		!strings.Contains(me.Message, "are not valid") || !strings.HasSuffix(string(me.Path), "_fake") {
		t.Errorf("method error = %+v", me)
	}
	if !errors.Is(err, ErrInvalidInput) {
		t.Errorf("errors.Is(err, ErrInvalidInput) = false for %v", err)
	}
}

func TestDestroyWithoutFinished(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	startFake(t, bus, testName, func(tx *fakeTx, method string, args []any) *dbus.Error {
		tx.emit("Destroy")
		return nil
	})
	_, err := newClient(t, bus, testName).Run(testCtx(t), GetUpdates(NoFilter))
	if !errors.Is(err, ErrDestroyed) {
		t.Errorf("err = %v, want ErrDestroyed", err)
	}
}

func TestTransactionRunsOnce(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	startFake(t, bus, testName, func(tx *fakeTx, method string, args []any) *dbus.Error {
		tx.finish(ExitSuccess)
		return nil
	})
	pk := newClient(t, bus, testName)
	tx, err := pk.CreateTransaction(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.SetHints(testCtx(t), HintLocale("C"), HintInteractive(false), HintCacheAge(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Run(testCtx(t), GetUpdates(NoFilter)); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Run(testCtx(t), GetUpdates(NoFilter)); !errors.Is(err, ErrInvalidState) {
		t.Errorf("second Run = %v, want ErrInvalidState", err)
	}
}

func TestBadActionSendsNothing(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	f := startFake(t, bus, testName, nil)
	pk := newClient(t, bus, testName)
	if _, err := pk.Run(testCtx(t), InstallPackages(0, []PackageID{"not-an-id"})); !errors.Is(err, ErrInvalidPackageID) {
		t.Errorf("Run = %v, want ErrInvalidPackageID", err)
	}
	if n := len(f.transactions()); n != 0 {
		t.Errorf("%d transactions created for an invalid action", n)
	}
}

// TestMalformedSignalFailsRun: a signal with the wrong signature (a broken
// forwarder, say) fails the Run instead of being half decoded.
func TestMalformedSignalFailsRun(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	startFake(t, bus, testName, func(tx *fakeTx, method string, args []any) *dbus.Error {
		tx.emit("Package", "not-a-number", "x;1;all;r", "summary")
		tx.finish(ExitSuccess)
		return nil
	})
	_, err := newClient(t, bus, testName).Run(testCtx(t), GetUpdates(NoFilter))
	if err == nil || !strings.Contains(err.Error(), "malformed org.freedesktop.PackageKit.Transaction.Package signal") {
		t.Errorf("Run = %v, want a malformed signal error", err)
	}
}
