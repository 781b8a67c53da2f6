//go:build e2e

package incus_test

import (
	"errors"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// TestInstanceLifecycleE2E creates a container from the local image alias
// and takes it through start, updates, a graceful stop and deletion,
// checking the lifecycle events of each step.
func TestInstanceLifecycleE2E(t *testing.T) {
	t.Parallel()
	c, bed := e2eClient(t)
	ctx := timeout(t, 5*time.Minute)
	name := testbed.Name("life")
	t.Cleanup(func() { _, _ = testbed.IncusErr("delete", "--force", name) })

	l, err := c.Events(ctx, incus.EventLifecycle, incus.EventOperation)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	// Create, with progress.
	op, err := c.CreateInstance(ctx, incus.InstancesPost{
		Name:   name,
		Source: incus.LocalImage(bed.Image),
		Config: map[string]string{"user.kapsule.e2e": "true", "user.kapsule.note": "two words"},
	})
	if err != nil {
		t.Fatal(err)
	}
	created, err := op.WaitProgress(ctx, func(p incus.Progress) { t.Logf("create: %+v", p) })
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := created.Progress(); !ok || p.Stage == "" || p.Text == "" {
		t.Errorf("the finished creation reports no progress: %+v", created.Metadata)
	}
	expectLifecycle(t, l, name, incus.InstanceCreated)

	// Start.
	mustWait(t, ctx)(c.StartInstance(ctx, name))
	ev := expectLifecycle(t, l, name, incus.InstanceStarted)
	if ev.Lifecycle.Project != "default" || ev.Lifecycle.Requestor == nil || ev.Lifecycle.Requestor.Username != bed.User {
		t.Errorf("started event %+v", ev.Lifecycle)
	}

	// List: by config (server filter plus a value with a space), with state.
	list, err := c.Instances(ctx, incus.InstanceQuery{
		WithState: true,
		Config:    map[string]string{"user.kapsule.e2e": "true", "user.kapsule.note": "two words"},
	})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list, func(i incus.Instance) bool { return i.Name == name })
	if i < 0 {
		t.Fatalf("%s not listed: %v", name, list)
	}
	if !list[i].Running() || list[i].State == nil || list[i].State.PID <= 0 {
		t.Errorf("listed %+v with state %+v", list[i], list[i].State)
	}
	for _, inst := range list {
		if inst.Config["user.kapsule.e2e"] != "true" {
			t.Errorf("listed %s without the config asked for", inst.Name)
		}
	}
	if prefixed, err := c.Instances(ctx, incus.InstanceQuery{ConfigPrefix: "user.kapsule.note"}); err != nil ||
		!slices.ContainsFunc(prefixed, func(i incus.Instance) bool { return i.Name == name }) {
		t.Errorf("prefix query: %v %v", prefixed, err)
	}

	// PATCH, then PUT with a stale and a fresh ETag.
	_, staleTag, err := c.Instance(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PatchInstance(ctx, name, incus.InstancePatch{Config: map[string]string{"user.kapsule.note": "patched"}}); err != nil {
		t.Fatal(err)
	}
	expectLifecycle(t, l, name, incus.InstanceUpdated)
	inst, tag, err := c.Instance(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Config["user.kapsule.note"] != "patched" || inst.Config["user.kapsule.e2e"] != "true" {
		t.Errorf("after PATCH: %v", inst.Config)
	}
	put := inst.InstancePut
	put.Config["user.kapsule.note"] = "put"
	if _, err := c.UpdateInstance(ctx, name, put, staleTag); !errors.Is(err, incus.ErrPreconditionFailed) {
		t.Errorf("PUT with a stale ETag: %v, want ErrPreconditionFailed", err)
	}
	mustWait(t, ctx)(c.UpdateInstance(ctx, name, put, tag))
	if inst, _, err := c.Instance(ctx, name); err != nil || inst.Config["user.kapsule.note"] != "put" {
		t.Errorf("after PUT: %v %v", inst, err)
	}

	// A running instance cannot be deleted.
	_, err = c.DeleteInstance(ctx, name)
	var ierr *incus.Error
	if !errors.As(err, &ierr) || ierr.StatusCode != http.StatusBadRequest {
		t.Errorf("delete while running: %v", err)
	}

	// Graceful stop with a timeout: a shutdown, not a kill.
	testbed.WaitSystemd(t, name)
	start := time.Now()
	mustWait(t, ctx)(c.StopInstance(ctx, name, incus.StopOptions{Timeout: 30 * time.Second}))
	t.Logf("graceful stop took %v", time.Since(start))
	expectLifecycle(t, l, name, incus.InstanceShutdown)
	if inst, _, err := c.Instance(ctx, name); err != nil || inst.StatusCode != incus.StatusStopped {
		t.Errorf("after stop: %+v %v", inst, err)
	}

	mustWait(t, ctx)(c.DeleteInstance(ctx, name))
	expectLifecycle(t, l, name, incus.InstanceDeleted)
	if _, _, err := c.Instance(ctx, name); !errors.Is(err, incus.ErrNotFound) {
		t.Errorf("after delete: %v, want ErrNotFound", err)
	}
}

// TestRestartAndForceStopE2E checks the other state changes and their
// events.
func TestRestartAndForceStopE2E(t *testing.T) {
	t.Parallel()
	c, bed := e2eClient(t)
	ctx := timeout(t, 5*time.Minute)
	name := bed.Launch(t, "state")
	l, err := c.Events(ctx, incus.EventLifecycle)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	mustWait(t, ctx)(c.RestartInstance(ctx, name, incus.StopOptions{Timeout: 30 * time.Second}))
	expectLifecycle(t, l, name, incus.InstanceRestarted)
	mustWait(t, ctx)(c.StopInstance(ctx, name, incus.StopOptions{Force: true}))
	expectLifecycle(t, l, name, incus.InstanceStopped)
	// Starting a stopped instance twice: the second fails with Incus's words.
	mustWait(t, ctx)(c.StartInstance(ctx, name))
	op, err := c.StartInstance(ctx, name)
	if err == nil {
		_, err = op.Wait(ctx, 0)
	}
	if err == nil {
		t.Error("second start succeeded")
	} else {
		t.Logf("second start: %v", err)
	}
}

// TestCreateFromSimplestreamsE2E needs a route to an image server; this
// machine has none, so the path is covered by the recorded responses of
// TestCreateFromSimplestreams.
func TestCreateFromSimplestreamsE2E(t *testing.T) {
	t.Parallel()
	c, _ := e2eClient(t)
	const server = "https://images.linuxcontainers.org"
	conn, err := net.DialTimeout("tcp", "images.linuxcontainers.org:443", 3*time.Second)
	if err != nil {
		t.Skipf("no route to %s (%v): the simplestreams create path is covered by the recorded responses of TestCreateFromSimplestreams", server, err)
	}
	conn.Close()
	ctx := timeout(t, 10*time.Minute)
	name := testbed.Name("ss")
	t.Cleanup(func() { _, _ = testbed.IncusErr("delete", "--force", name) })
	op, err := c.CreateInstance(ctx, incus.InstancesPost{Name: name, Source: incus.SimplestreamsImage(server, "debian/12")})
	if err != nil {
		t.Fatal(err)
	}
	var progress int
	if _, err := op.WaitProgress(ctx, func(p incus.Progress) { progress++; t.Logf("%+v", p) }); err != nil {
		t.Fatal(err)
	}
	if progress == 0 {
		t.Error("no download progress reported")
	}
}
