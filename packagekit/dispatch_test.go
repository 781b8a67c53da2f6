package packagekit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// TestConcurrentTransactionsDoNotMix runs two transactions on one
// connection at once; the fake interleaves their signals.
func TestConcurrentTransactionsDoNotMix(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	var (
		mu      sync.Mutex
		waiting []*fakeTx
		both    = make(chan struct{})
	)
	f := startFake(t, bus, testName, nil)
	f.setScript(func(tx *fakeTx, method string, args []any) *dbus.Error {
		mu.Lock()
		waiting = append(waiting, tx)
		if len(waiting) == 2 {
			close(both)
		}
		mu.Unlock()
		name := args[1].([]string)[0]
		f.goAsync(func() {
			<-both
			for i := range 50 {
				tx.pkg(InfoAvailable, InfoUnknown, fmt.Sprintf("%s;%d;all;repo", name, i), name)
				if i%10 == 0 {
					tx.props(map[string]any{"Percentage": uint32(i)})
				}
			}
			tx.finish(ExitSuccess)
		})
		return nil
	})
	pk := newClient(t, bus, testName)
	ctx := testCtx(t)
	results := make(map[string]*Result)
	errs := make(map[string]error)
	var wg sync.WaitGroup
	for _, name := range []string{"alpha", "beta"} {
		wg.Go(func() {
			res, err := pk.Run(ctx, Resolve(NoFilter, []string{name}))
			mu.Lock()
			results[name], errs[name] = res, err
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, name := range []string{"alpha", "beta"} {
		if errs[name] != nil {
			t.Fatalf("%s: %v", name, errs[name])
		}
		pkgs := results[name].Packages
		if len(pkgs) != 50 {
			t.Errorf("%s: %d packages, want 50", name, len(pkgs))
		}
		for i, p := range pkgs {
			if p.ID.Name() != name || p.ID.Version() != fmt.Sprint(i) {
				t.Errorf("%s: package %d is %s", name, i, p.ID)
				break
			}
		}
	}
}

// TestStrangersCannotInjectSignals: another connection emits on the
// transaction's path, and the client's connection has a broad match rule
// (as a forwarder sharing the connection would), so the bus delivers the
// stranger's signals; the client must ignore them.
func TestStrangersCannotInjectSignals(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	stranger := connect(t, bus)
	f := startFake(t, bus, testName, func(tx *fakeTx, method string, args []any) *dbus.Error {
		for _, err := range []error{
			stranger.Emit(tx.path, TransactionInterface+".Package", uint32(InfoAvailable), "evil;1;all;x", "injected"),
			stranger.Emit(tx.path, TransactionInterface+".Finished", uint32(ExitFailed), uint32(1)),
		} {
			if err != nil {
				t.Errorf("stranger emit: %v", err)
			}
		}
		// Make sure the stranger's signals are delivered first: a round
		// trip through the bus from the stranger orders them before ours.
		if err := stranger.BusObject().Call("org.freedesktop.DBus.GetId", 0).Err; err != nil {
			t.Errorf("stranger round trip: %v", err)
		}
		tx.pkg(InfoAvailable, InfoUnknown, "good;1;all;repo", "genuine")
		tx.finish(ExitSuccess)
		return nil
	})
	_ = f
	conn := connect(t, bus)
	if err := conn.AddMatchSignal(dbus.WithMatchInterface(TransactionInterface)); err != nil {
		t.Fatal(err)
	}
	pk, err := NewClient(testCtx(t), conn, testName)
	if err != nil {
		t.Fatal(err)
	}
	defer pk.Close()
	res, err := pk.Run(testCtx(t), Resolve(NoFilter, []string{"good"}))
	if err != nil {
		t.Fatalf("Run: %v (a stranger's Finished must not count)", err)
	}
	if len(res.Packages) != 1 || res.Packages[0].ID != "good;1;all;repo" {
		t.Errorf("packages = %+v, want only the genuine one", res.Packages)
	}
}

// running is a script that leaves the transaction running until Cancel,
// then finishes it the way PackageKit does.
func running(f *fakePK, started chan<- *fakeTx) script {
	return func(tx *fakeTx, method string, args []any) *dbus.Error {
		tx.props(map[string]any{"Status": uint32(StatusRunning)})
		f.goAsync(func() {
			started <- tx
			select {
			case <-tx.cancelled:
				tx.emit("ErrorCode", uint32(ErrorCodeTransactionCancelled), "cancelled")
				tx.finish(ExitCancelled)
			case <-time.After(20 * time.Second):
				tx.finish(ExitSuccess) // the test did not cancel
			}
		})
		return nil
	}
}

func TestContextCancellationCancelsTransaction(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	f := startFake(t, bus, testName, nil)
	started := make(chan *fakeTx, 1)
	f.setScript(running(f, started))
	pk := newClient(t, bus, testName)

	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := pk.Run(ctx, RefreshCache(true))
		errc <- err
	}()
	tx := <-started
	t0 := time.Now()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
		if d := time.Since(t0); d > time.Second {
			t.Errorf("Run returned %v after the cancellation", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	select {
	case <-tx.cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the daemon never got Cancel")
	}
}

func TestDaemonVanishingFailsRunningTransaction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		beforeReplied bool
	}{
		{"while the transaction runs", false},
		{"before it answered the action call", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bus := newBus(t)
			f := startFake(t, bus, testName, nil)
			started := make(chan *fakeTx, 1)
			f.setScript(func(tx *fakeTx, method string, args []any) *dbus.Error {
				tx.props(map[string]any{"Status": uint32(StatusDownload)})
				if tt.beforeReplied {
					started <- tx
					<-f.conn.Context().Done() // the test closes the fake: no reply
				} else {
					f.goAsync(func() { started <- tx })
				}
				return nil
			})
			pk := newClient(t, bus, testName)
			errc := make(chan error, 1)
			go func() {
				_, err := pk.Run(testCtx(t), RefreshCache(false))
				errc <- err
			}()
			<-started
			_ = f.conn.Close() // the daemon crashes
			select {
			case err := <-errc:
				if !errors.Is(err, ErrDaemonVanished) {
					t.Errorf("Run = %v, want ErrDaemonVanished", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run hangs after the daemon vanished")
			}

			// A new daemon takes the name: the same client works with it.
			startFake(t, bus, testName, func(tx *fakeTx, method string, args []any) *dbus.Error {
				tx.pkg(InfoNormal, InfoUnknown, "after;2;all;repo", "")
				tx.finish(ExitSuccess)
				return nil
			})
			res, err := pk.Run(testCtx(t), GetUpdates(NoFilter))
			if err != nil || len(res.Packages) != 1 {
				t.Fatalf("Run on the restarted daemon = %+v, %v", res, err)
			}
		})
	}
}

func TestConnectionLossFailsRunningTransaction(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	f := startFake(t, bus, testName, nil)
	started := make(chan *fakeTx, 1)
	f.setScript(running(f, started))
	conn := connect(t, bus)
	pk, err := NewClient(testCtx(t), conn, testName)
	if err != nil {
		t.Fatal(err)
	}
	defer pk.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := pk.Run(testCtx(t), RefreshCache(false))
		errc <- err
	}()
	tx := <-started
	_ = conn.Close() // the bridge into the container ends
	select {
	case err := <-errc:
		if !errors.Is(err, ErrDisconnected) {
			t.Errorf("Run = %v, want ErrDisconnected", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run hangs after the connection closed")
	}
	if _, err := pk.CreateTransaction(testCtx(t)); !errors.Is(err, ErrDisconnected) {
		t.Errorf("CreateTransaction after the loss = %v, want ErrDisconnected", err)
	}
	tx.once.Do(func() { close(tx.cancelled) }) // let the fake's goroutine end
}

func TestCloseFailsRunningTransactions(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	f := startFake(t, bus, testName, nil)
	started := make(chan *fakeTx, 1)
	f.setScript(running(f, started))
	pk := newClient(t, bus, testName)
	errc := make(chan error, 1)
	go func() {
		_, err := pk.Run(testCtx(t), RefreshCache(false))
		errc <- err
	}()
	tx := <-started
	if err := pk.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Run = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run hangs after Close")
	}
	if _, err := pk.Run(testCtx(t), GetUpdates(NoFilter)); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v, want ErrClosed", err)
	}
	if err := pk.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	tx.once.Do(func() { close(tx.cancelled) })
}

// matchRules asks the bus how many match rules conn has.
func matchRules(t *testing.T, conn *dbus.Conn) uint32 {
	t.Helper()
	var stats map[string]dbus.Variant
	err := conn.BusObject().Call("org.freedesktop.DBus.Debug.Stats.GetConnectionStats", 0, conn.Names()[0]).Store(&stats)
	if err != nil {
		t.Fatalf("connection stats: %v", err)
	}
	var n uint32
	if err := stats["MatchRules"].Store(&n); err != nil {
		t.Fatalf("MatchRules: %v", err)
	}
	return n
}

// TestNoMatchRulesLeftBehind: a Client on a shared connection removes the
// rules it added, whatever way its transactions end.
func TestNoMatchRulesLeftBehind(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	f := startFake(t, bus, testName, nil)
	started := make(chan *fakeTx, 1)
	f.setScript(func(tx *fakeTx, method string, args []any) *dbus.Error {
		switch method {
		case "GetUpdates":
			tx.finish(ExitSuccess)
		case "InstallPackages":
			tx.fail(ErrorCodePackageNotFound, "no")
		case "Resolve":
			return dbus.NewError("org.freedesktop.PackageKit.Transaction.SearchInvalid", []any{"bad"})
		case "RefreshCache":
			return running(f, started)(tx, method, args)
		}
		return nil
	})
	conn := connect(t, bus)
	pk, err := NewClient(testCtx(t), conn, testName)
	if err != nil {
		t.Fatal(err)
	}
	if n := matchRules(t, conn); n != 1 {
		t.Fatalf("%d match rules after NewClient, want 1 (NameOwnerChanged)", n)
	}
	ctx := testCtx(t)
	if _, err := pk.Run(ctx, GetUpdates(NoFilter)); err != nil {
		t.Errorf("success: %v", err)
	}
	if _, err := pk.Run(ctx, InstallPackages(0, []PackageID{"a;1;all;r"})); err == nil {
		t.Error("failure: no error")
	}
	if _, err := pk.Run(ctx, Resolve(NoFilter, []string{"a"})); err == nil {
		t.Error("refused: no error")
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { <-started; cancel() }()
	if _, err := pk.Run(cctx, RefreshCache(false)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	tx, err := pk.CreateTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := matchRules(t, conn); n != 2 {
		t.Errorf("%d match rules with one open transaction, want 2", n)
	}
	tx.Close()
	if n := matchRules(t, conn); n != 1 {
		t.Errorf("%d match rules after the transactions, want 1", n)
	}
	if err := pk.Close(); err != nil {
		t.Fatal(err)
	}
	if n := matchRules(t, conn); n != 0 {
		t.Errorf("%d match rules after Close, want 0", n)
	}
}

func TestTransactionCloseEndsRun(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	f := startFake(t, bus, testName, nil)
	started := make(chan *fakeTx, 1)
	f.setScript(running(f, started))
	pk := newClient(t, bus, testName)
	tx, err := pk.CreateTransaction(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := tx.Run(testCtx(t), RefreshCache(false))
		errc <- err
	}()
	ftx := <-started
	tx.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, errTransactionClosed) {
			t.Errorf("Run = %v, want errTransactionClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run hangs after Close")
	}
	ftx.once.Do(func() { close(ftx.cancelled) })
}
