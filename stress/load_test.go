//go:build stress

package stress

// Load through the PackageKit bridge: many transactions at once across
// containers, and a long run of calls through one name without growth in
// goroutines, threads or file descriptors.

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
	"invent.kde.org/kapsule/kapsule/packagekit"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// createMany creates n containers at once with kap create.
func createMany(t *testing.T, s *testbed.UserSession, prefix string, n int) []string {
	t.Helper()
	names := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range names {
		names[i] = testbed.Name(fmt.Sprintf("%s%d", prefix, i))
		testbed.CleanupContainer(t, names[i])
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			if out, err := s.Command(ctx, "kap", "create", names[i], "--quiet").CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("kap create %s: %v: %s", names[i], err, out)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return names
}

// percentile returns the p-th percentile of sorted durations.
func percentile(ds []time.Duration, p float64) time.Duration {
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// TestFiftyConcurrentTransactions runs 50 GetUpdates transactions at once,
// 10 on each of 5 containers, from 10 clients: every one returns exactly
// the fixture's pending update.
func TestFiftyConcurrentTransactions(t *testing.T) {
	t.Parallel()
	const containers, clients = 5, 10
	_, s := session(t, "")
	cs := createMany(t, s, "load", containers)
	conn := s.Connect(t)
	pid := activate(t, s, conn)
	for _, c := range cs {
		waitOwned(t, conn, busName(t, c), 10*time.Second)
	}
	type client struct{ pks []*packagekit.Client }
	var all []client
	for range clients {
		cc := s.Connect(t)
		var cl client
		for _, c := range cs {
			cl.pks = append(cl.pks, pkClient(t, cc, busName(t, c)))
		}
		all = append(all, cl)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := make(chan struct{})
	var mu sync.Mutex
	var took []time.Duration
	var failures []string
	var wg sync.WaitGroup
	for i, cl := range all {
		for j, pk := range cl.pks {
			wg.Go(func() {
				<-start
				t0 := time.Now()
				res, err := pk.Run(ctx, packagekit.GetUpdates(packagekit.NoFilter))
				d := time.Since(t0)
				var got []string
				if err == nil {
					for _, p := range res.Packages {
						got = append(got, string(p.ID))
					}
				}
				mu.Lock()
				defer mu.Unlock()
				took = append(took, d)
				if err != nil || !slices.Equal(got, []string{fixtureUpdate}) {
					failures = append(failures, fmt.Sprintf("client %d, %s: %q, %v", i, cs[j], got, err))
				}
			})
		}
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	wall := time.Since(t0)
	for _, f := range failures {
		t.Error(f)
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("%d concurrent GetUpdates over %d containers: %d answered correctly, %d failed; all done in %v (per transaction: median %v, p90 %v, max %v)",
		len(took), containers, len(took)-len(failures), len(failures), wall.Round(time.Millisecond),
		percentile(took, 0.5).Round(time.Millisecond), percentile(took, 0.9).Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	if len(took) != containers*clients {
		t.Errorf("%d transactions ran, want %d", len(took), containers*clients)
	}
	if now := s.ServicePID(t, conn); now != pid {
		t.Errorf("kapsuled is pid %d after the load, was %d", now, pid)
	}
}

// procCount counts the entries of /proc/PID/fd, and the threads of PID.
func procCount(t *testing.T, pid int) (fds, threads int) {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			threads, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return len(ents), threads
}

// callLoop makes n calls through a PackageKit name: every tenth a whole
// GetUpdates transaction (CreateTransaction, GetUpdates, its signals up to
// Finished), the others a property read answered by PackageKit.
func callLoop(t *testing.T, conn *dbus.Conn, pk *packagekit.Client, name string, n int) (calls int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	obj := conn.Object(name, pkDaemonPath)
	for i := range n {
		if i%10 == 0 {
			res, err := pk.Run(ctx, packagekit.GetUpdates(packagekit.NoFilter))
			if err != nil || len(res.Packages) != 1 || res.Packages[0].ID != fixtureUpdate {
				t.Fatalf("call %d: GetUpdates = %+v, %v", i, res, err)
			}
			calls += 2
			continue
		}
		var v dbus.Variant
		if err := obj.CallWithContext(ctx, propsIface+".Get", 0, pkIface, "BackendName").Store(&v); err != nil || v.Value() != "apt" {
			t.Fatalf("call %d: Get BackendName = %v, %v", i, v, err)
		}
		calls++
	}
	return calls
}

// TestThousandCallsKapsuled makes 1,000 sequential calls through one
// container's name and compares kapsuled's open file descriptors and
// threads before and after.
func TestThousandCallsKapsuled(t *testing.T) {
	t.Parallel()
	_, s := session(t, "")
	c := create(t, s, "calls")
	conn := s.Connect(t)
	name := busName(t, c)
	waitOwned(t, conn, name, 10*time.Second)
	pid := activate(t, s, conn)
	pk := pkClient(t, conn, name)
	callLoop(t, conn, pk, name, 30) // the link is up, PackageKit running
	time.Sleep(6 * time.Second)     // PackageKit destroys finished transactions after 5 s
	fds0, threads0 := procCount(t, pid)
	src0 := sources(t, conn)
	start := time.Now()
	calls := callLoop(t, conn, pk, name, 1000)
	d := time.Since(start)
	time.Sleep(6 * time.Second)
	fds1, threads1 := procCount(t, pid)
	src1 := sources(t, conn)
	t.Logf("1000 calls through %s (%d D-Bus method calls, 100 transactions) in %v (%v per call); kapsuled: fds %d -> %d, threads %d -> %d, update sources %d -> %d",
		name, calls, d.Round(time.Millisecond), (d / time.Duration(calls)).Round(time.Microsecond), fds0, fds1, threads0, threads1, src0, src1)
	// File descriptors: none may be left behind. kapsuled follows every
	// container of the test user, and other tests make and remove some
	// meanwhile: each source holds one bus connection, so the count is
	// taken net of them; net/http may also keep up to two idle
	// connections to incusd (probing those containers). Threads: the Go
	// runtime may start a few more OS threads under load (never given
	// back), but not one per call.
	if net := (fds1 - src1) - (fds0 - src0); net > 2 {
		t.Errorf("kapsuled has %d open file descriptors after 1000 calls, %d before (update sources %d, %d)", fds1, fds0, src1, src0)
	}
	if threads1 > threads0+4 {
		t.Errorf("kapsuled has %d threads after 1000 calls, %d before", threads1, threads0)
	}
	if now := s.ServicePID(t, conn); now != pid {
		t.Errorf("kapsuled is pid %d after the calls, was %d", now, pid)
	}
}

// sources counts the update sources kapsuled exports (a bus connection
// each).
func sources(t *testing.T, conn *dbus.Conn) int {
	t.Helper()
	var srcs []bridge.UpdateSource
	if err := conn.Object(bridge.ServiceName, bridge.ManagerPath).Call(bridge.ManagerInterface+".ListUpdateSources", 0).Store(&srcs); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range srcs {
		if s.PackageKit {
			n++
		}
	}
	return n
}

// goroutineTolerance is how many more goroutines than before may run once
// 1000 calls are over: some outlive their work for a moment (godbus starts
// one per call made with a context, which ends after the reply, and one
// per incoming method call; net/http runs two per pooled connection to
// incusd). A leak per call would show as hundreds.
const goroutineTolerance = 3

// TestThousandCallsForwarderGoroutines runs the real bridge.Forwarder in
// this process, dialling the container's bus the way kapsuled does (Incus
// exec of systemd-stdio-bridge, lifecycle/incus.ExecStream), and counts
// goroutines and file descriptors around 1,000 calls through it.
//
// Not parallel: the goroutines of other tests would be counted too.
func TestThousandCallsForwarderGoroutines(t *testing.T) {
	bed := testbed.RequireRoot(t)
	c := bed.Launch(t, "fwd-goroutines")
	bus := testbed.StartBus(t, false)
	ic := incus.NewUnix(bed.IncusSocket)
	defer ic.Close()
	const name = "org.kde.kapsule.PackageKit.stress"
	fwd, err := bridge.NewForwarder(bridge.ForwarderConfig{
		SessionAddress: bus.Address,
		Name:           name,
		Container:      c,
		Dial: func(ctx context.Context) (io.ReadWriteCloser, error) {
			return ic.ExecStream(ctx, c, []string{"/usr/bin/systemd-stdio-bridge"}, nil)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fwd.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("forwarder: %v", err)
		}
	}()
	select {
	case <-fwd.Ready():
	case err := <-done:
		t.Fatalf("forwarder: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the forwarder did not take its name within 30 s")
	}
	conn, err := dbus.Connect(bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pk := pkClient(t, conn, name)
	callLoop(t, conn, pk, name, 30)
	time.Sleep(6 * time.Second)
	settled := func() int {
		runtime.GC()
		time.Sleep(100 * time.Millisecond)
		return runtime.NumGoroutine()
	}
	g0 := settled()
	fds0, _ := procCount(t, os.Getpid())
	start := time.Now()
	calls := callLoop(t, conn, pk, name, 1000)
	d := time.Since(start)
	g1 := settled()
	for deadline := time.Now().Add(10 * time.Second); g1 > g0+goroutineTolerance && time.Now().Before(deadline); {
		g1 = settled()
	}
	fds1, _ := procCount(t, os.Getpid())
	t.Logf("1000 calls through an in-process Forwarder (%d D-Bus method calls, 100 transactions) in %v: goroutines %d -> %d, fds of the test %d -> %d",
		calls, d.Round(time.Millisecond), g0, g1, fds0, fds1)
	if g1 > g0+goroutineTolerance {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after 1000 calls, %d before (tolerance %d):\n%s", g1, g0, goroutineTolerance, buf[:runtime.Stack(buf, true)])
	}
	if fds1 > fds0 {
		t.Errorf("the test process has %d open file descriptors after 1000 calls, %d before", fds1, fds0)
	}
}
