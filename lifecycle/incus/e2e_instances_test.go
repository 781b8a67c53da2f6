//go:build e2e

package incus_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
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
	testbed.CleanupContainer(t, name)

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

// TestCreateFromSimplestreamsE2E creates a container the way Kapsule does
// from images.linuxcontainers.org, without the internet: the test serves a
// simplestreams image server over HTTPS on the loopback, holding the test
// bed's image (exported through the API, with a metadata.yaml of its own so
// that its fingerprint is new), and incusd pulls it from there, trusting
// the server's self-signed certificate given in the source. The rootfs is
// paced to take a few seconds, long enough for WaitProgress to see the
// download. The instance and the image Incus cached are deleted at the end.
func TestCreateFromSimplestreamsE2E(t *testing.T) {
	t.Parallel()
	c, bed := e2eClient(t)
	ctx := timeout(t, 5*time.Minute)
	srv, err := c.Server(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bedImage, err := c.ImageAlias(ctx, bed.Image)
	if err != nil {
		t.Fatal(err)
	}

	// The image to serve: the test bed's, described as this test's.
	name := testbed.Name("ss")
	start := time.Now()
	img := exportImage(t, ctx, bed.IncusSocket, bedImage.Target, t.TempDir())
	img.Meta = redescribe(t, img.Meta, "Kapsule simplestreams e2e image "+name)
	fp := img.Fingerprint(t)
	t.Logf("exported %s (%d MB) in %v; served as %s", bedImage.Target[:12], img.RootfsSize>>20, time.Since(start).Round(time.Millisecond), fp[:12])
	if fp == bedImage.Target {
		t.Fatal("the served image has the test bed image's fingerprint: Incus would not download it")
	}
	t.Cleanup(func() {
		// The test deletes it; this is for when it failed first.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		op, err := c.DeleteImage(ctx, fp)
		if err == nil {
			_, err = op.Wait(ctx, 0)
		}
		if err != nil && !errors.Is(err, incus.ErrNotFound) {
			t.Errorf("delete the image %s the test made Incus cache: %v", fp, err)
		}
	})

	const rootfsTime = 5 * time.Second
	arch := debianArch(srv.Environment.KernelArchitecture)
	store := serveSimplestreams(t, name, arch, "kapsule-e2e/"+name, fp, img, rootfsTime)
	source := incus.SimplestreamsImage(store.URL, store.Alias)
	source.Certificate = store.CertPEM
	t.Logf("serving %s at %s (product arch %s, version %s)", store.Alias, store.URL, arch, store.Serial)

	// Without the certificate, incusd does not trust the server. (Before
	// the real pull: afterwards incusd has the index cached, and the image.)
	untrusted := name + "-untrusted"
	testbed.CleanupContainer(t, untrusted)
	noCert := source
	noCert.Certificate = ""
	op, err := c.CreateInstance(ctx, incus.InstancesPost{Name: untrusted, Source: noCert})
	if err == nil {
		_, err = op.Wait(ctx, 0)
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("create from the server without its certificate: %v, want a certificate error", err)
	} else {
		t.Logf("without the certificate: %v", err)
	}
	if _, _, err := c.Instance(ctx, untrusted); !errors.Is(err, incus.ErrNotFound) {
		t.Errorf("instance after the untrusted create: %v, want ErrNotFound", err)
	}

	// Create, watching the download.
	testbed.CleanupContainer(t, name)
	start = time.Now()
	op, err = c.CreateInstance(ctx, incus.InstancesPost{
		Name:   name,
		Source: source,
		Config: map[string]string{"user.kapsule.e2e": "true"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var downloads, updates int
	if _, err := op.WaitProgress(ctx, func(p incus.Progress) {
		updates++
		if p.Stage == "download" {
			downloads++
		}
		t.Logf("create +%v: %+v", time.Since(start).Round(time.Millisecond), p)
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("created in %v: %d progress updates, %d of the download", time.Since(start).Round(time.Millisecond), updates, downloads)
	if downloads == 0 {
		t.Error("no download progress reported")
	}
	if n := store.rootfsServed.Load(); n != 1 {
		t.Errorf("the rootfs was served in full %d times (%d requests), want once", n, store.rootfsRequests.Load())
	}

	// Incus cached the image under the fingerprint the store gave.
	cached, err := c.Image(ctx, fp)
	if err != nil {
		t.Fatal(err)
	}
	if !cached.Cached || cached.Architecture != srv.Environment.KernelArchitecture || cached.Type != "container" ||
		cached.Properties["os"] != "Debian" || cached.Properties["release"] != "bookworm" ||
		cached.Properties["variant"] != "default" || cached.Properties["serial"] != store.Serial {
		t.Errorf("cached image %+v", cached)
	}
	inst, _, err := c.Instance(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Config["volatile.base_image"] != fp || inst.Config["image.serial"] != store.Serial {
		t.Errorf("instance config %v, want base image %s, serial %s", inst.Config, fp, store.Serial)
	}

	// Start it and run a command: the image's templates made its hostname.
	start = time.Now()
	mustWait(t, ctx)(c.StartInstance(ctx, name))
	var out, errOut bytes.Buffer
	code, err := c.Exec(ctx, name, incus.Cmd{
		Command: []string{"sh", "-c", `cat /etc/hostname && . /etc/os-release && echo "$VERSION_CODENAME"`},
		Stdout:  &out, Stderr: &errOut,
	})
	if err != nil || code != 0 {
		t.Fatalf("exec: %d, %v; stderr %q", code, err, errOut.String())
	}
	if got, want := strings.Fields(out.String()), []string{name, "bookworm"}; !slices.Equal(got, want) {
		t.Errorf("exec printed %q, want the lines %q", out.String(), want)
	}
	t.Logf("started and ran a command in %v", time.Since(start).Round(time.Millisecond))

	mustWait(t, ctx)(c.StopInstance(ctx, name, incus.StopOptions{Force: true}))
	mustWait(t, ctx)(c.DeleteInstance(ctx, name))
	mustWait(t, ctx)(c.DeleteImage(ctx, fp))
	if _, err := c.Image(ctx, fp); !errors.Is(err, incus.ErrNotFound) {
		t.Errorf("cached image after delete: %v, want ErrNotFound", err)
	}
}
