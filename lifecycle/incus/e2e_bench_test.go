//go:build e2e

package incus_test

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// BenchmarkExecTrue measures, in one run against one running container,
// b.N runs of `true` through this client and b.N runs of
// `incus exec C -- true`, interleaved, and reports both medians and their
// ratio. The goal is a ratio of at most 0.8.
func BenchmarkExecTrue(b *testing.B) {
	c, bed := e2eClient(b)
	name := bed.Launch(b, "bench")
	ctx := context.Background()

	viaClient := func() time.Duration {
		start := time.Now()
		code, err := c.Exec(ctx, name, incus.Cmd{Command: []string{"true"}})
		d := time.Since(start)
		if err != nil || code != 0 {
			b.Fatalf("client exec: %d, %v", code, err)
		}
		return d
	}
	viaCLI := func() time.Duration {
		start := time.Now()
		out, err := exec.CommandContext(ctx, "incus", "exec", name, "--", "true").CombinedOutput()
		d := time.Since(start)
		if err != nil {
			b.Fatalf("incus exec: %v: %s", err, out)
		}
		return d
	}
	// Warm both paths up (connections, page cache) outside the figures.
	viaClient()
	viaCLI()

	client := make([]time.Duration, 0, b.N)
	cli := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		client = append(client, viaClient())
		cli = append(cli, viaCLI())
	}
	b.StopTimer()

	mc, ml := testbed.Median(client), testbed.Median(cli)
	ratio := float64(mc) / float64(ml)
	b.ReportMetric(float64(mc.Nanoseconds()), "ns/op") // the client's, not the pair's
	b.ReportMetric(float64(ml.Nanoseconds()), "cli-ns")
	b.ReportMetric(float64(mc.Microseconds())/1000, "client-ms")
	b.ReportMetric(float64(ml.Microseconds())/1000, "cli-ms")
	b.ReportMetric(ratio, "ratio")
	fmt.Printf("BenchmarkExecTrue: %d runs each: client median %v, incus CLI median %v, ratio %.2f (goal <= 0.80: %s)\n",
		b.N, mc, ml, ratio, testbed.Goal(ratio <= 0.8))
}
