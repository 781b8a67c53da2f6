//go:build e2e

package main

// Benchmarks of a container's PackageKit on the session bus against the
// same PackageKit reached directly over the same transport (a godbus
// connection over lifecycle/incus ExecStream of systemd-stdio-bridge), both
// measured in the same run, interleaved. They print whether the goals are
// met and never fail on them.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/packagekit"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// BenchmarkProxiedCall measures one daemon call (GetTransactionList) on
// org.kde.kapsule.PackageKit.<C> against the same call made directly.
// Goal: the proxied median at most 1.10 times the direct one. For scale it
// also measures, in the same run, what any service on the session bus
// pays: a round trip to the bus driver, and a call to a service that
// answers at once.
func BenchmarkProxiedCall(b *testing.B) {
	s := pkSession(b, "")
	c, name := pkContainer(b, s, "bench-call")
	conn := busConn(b, s)
	waitOwned(b, conn, name, 10*time.Second)
	direct := directConn(b, c)
	call := func(conn *dbus.Conn, dest string) time.Duration {
		start := time.Now()
		var list []dbus.ObjectPath
		err := conn.Object(dest, pkDaemonPath).Call(pkIface+".GetTransactionList", 0).Store(&list)
		d := time.Since(start)
		if err != nil {
			b.Fatalf("GetTransactionList on %s: %v", dest, err)
		}
		return d
	}
	// One round trip to the session bus' driver: the hop every call to a
	// session-bus name pays, whatever answers it.
	hop := func() time.Duration {
		start := time.Now()
		if err := conn.BusObject().Call("org.freedesktop.DBus.GetId", 0).Err; err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	// A call to the smallest service on the session bus (a godbus
	// connection whose method returns at once): what any service that
	// answers on the session bus costs, the bus' two extra relays included.
	echo := busConn(b, s)
	if err := echo.ExportMethodTable(map[string]any{"Ping": func() *dbus.Error { return nil }}, "/bench", "org.kde.kapsule.Bench"); err != nil {
		b.Fatal(err)
	}
	echoName := echo.Names()[0]
	service := func() time.Duration {
		start := time.Now()
		if err := conn.Object(echoName, "/bench").Call("org.kde.kapsule.Bench.Ping", 0).Err; err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	// Warm up both paths (the link to the container, PackageKit started).
	for range 20 {
		call(conn, name)
		call(direct, packagekit.DefaultDestination)
		hop()
		service()
	}
	// Each iteration takes 20 samples of each, interleaved: a median of a
	// few hundred sub-millisecond calls, not of 30.
	var proxied, straight, hops, services []time.Duration
	for b.Loop() {
		for range 20 {
			proxied = append(proxied, call(conn, name))
			straight = append(straight, call(direct, packagekit.DefaultDestination))
			hops = append(hops, hop())
			services = append(services, service())
		}
	}
	mp, md, mh, ms := testbed.Median(proxied), testbed.Median(straight), testbed.Median(hops), testbed.Median(services)
	ratio := float64(mp) / float64(md)
	b.ReportMetric(float64(mp.Nanoseconds()), "ns/op") // the proxied call's, not the pair's
	b.ReportMetric(float64(md.Nanoseconds()), "direct-ns")
	b.ReportMetric(float64(mh.Nanoseconds()), "session-hop-ns")
	b.ReportMetric(float64(ms.Nanoseconds()), "session-service-ns")
	b.ReportMetric(ratio, "ratio")
	fmt.Printf("BenchmarkProxiedCall: %d calls each: proxied median %v, direct median %v, ratio %.2f (goal <= 1.10: %s); "+
		"the proxied call costs %v more; on the same bus a round trip to the bus driver takes %v, "+
		"a call to a service that answers at once %v: a proxy on the session bus cannot go below ratio %.2f here\n",
		len(proxied), mp, md, ratio, testbed.Goal(ratio <= 1.10), mp-md, mh, ms, float64(md+ms)/float64(md))
}

// benchPackages is how many packages the generated repository holds.
const benchPackages = 20000

// BenchmarkPackageSignals measures the throughput of a transaction that
// emits about 20,000 Package signals (GetPackages without plural signals,
// on a generated repository) through the session bus against directly.
// Goal: at least 0.8 times the direct throughput.
func BenchmarkPackageSignals(b *testing.B) {
	s := pkSession(b, "")
	c, name := pkContainer(b, s, "bench-signals")
	conn := busConn(b, s)
	waitOwned(b, conn, name, 10*time.Second)
	// apt lists a repository from its Packages index alone: no .deb files.
	testbed.Incus(b, "exec", c, "--", "sh", "-c", fmt.Sprintf(`set -e
mkdir -p /srv/kapsule-bench
awk 'BEGIN { for (i = 0; i < %d; i++) printf "Package: kapsule-bench-%%05d\nVersion: 1.0\nArchitecture: all\nMaintainer: Kapsule <kapsule@example.org>\nInstalled-Size: 1\nFilename: kapsule-bench-%%05d_1.0_all.deb\nSize: 1000\nSection: misc\nDescription: Kapsule benchmark package %%d\n\n", i, i, i }' > /srv/kapsule-bench/Packages
echo 'deb [trusted=yes] file:/srv/kapsule-bench ./' > /etc/apt/sources.list.d/kapsule-bench.list`, benchPackages))
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	viaBus := pkClient(b, conn, name)
	viaDirect := pkClient(b, directConn(b, c), packagekit.DefaultDestination)
	if _, err := viaBus.Run(ctx, packagekit.RefreshCache(true)); err != nil {
		b.Fatalf("refresh: %v", err)
	}
	getPackages := func(pk *packagekit.Client) (time.Duration, int) {
		start := time.Now()
		tx, err := pk.CreateTransaction(ctx)
		if err != nil {
			b.Fatal(err)
		}
		res, err := tx.Run(ctx, packagekit.GetPackages(packagekit.NoFilter)) // no hints: singular Package signals
		d := time.Since(start)
		if err != nil {
			b.Fatalf("GetPackages on %s: %v", pk.Destination(), err)
		}
		return d, len(res.Packages)
	}
	d, n := getPackages(viaBus)
	if nd, nn := getPackages(viaDirect); nn != n || n < benchPackages {
		b.Fatalf("GetPackages: %d packages through the session bus, %d directly; want the same, at least %d", n, nn, benchPackages)
	} else {
		b.Logf("warm-up: %d packages in %v through the session bus, %v directly", n, d, nd)
	}
	var proxied, straight []time.Duration
	for b.Loop() {
		d, got := getPackages(viaBus)
		if got != n {
			b.Fatalf("%d packages through the session bus, want %d", got, n)
		}
		proxied = append(proxied, d)
		d, got = getPackages(viaDirect)
		if got != n {
			b.Fatalf("%d packages directly, want %d", got, n)
		}
		straight = append(straight, d)
	}
	mp, md := testbed.Median(proxied), testbed.Median(straight)
	tp, td := float64(n)/mp.Seconds(), float64(n)/md.Seconds()
	ratio := tp / td
	b.ReportMetric(float64(mp.Nanoseconds()), "ns/op")
	b.ReportMetric(tp, "signals/s")
	b.ReportMetric(td, "direct-signals/s")
	b.ReportMetric(ratio, "ratio")
	fmt.Printf("BenchmarkPackageSignals: %d transactions of %d Package signals each: proxied median %v (%.0f signals/s), direct median %v (%.0f signals/s), throughput ratio %.2f (goal >= 0.80: %s)\n",
		len(proxied), n, mp, tp, md, td, ratio, testbed.Goal(ratio >= 0.8))
}
