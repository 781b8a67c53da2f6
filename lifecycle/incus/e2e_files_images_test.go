//go:build e2e

package incus_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// TestFilesE2E pushes and pulls files, directories and symlinks.
func TestFilesE2E(t *testing.T) {
	t.Parallel()
	c, bed := e2eClient(t)
	name := bed.Launch(t, "files")
	ctx := timeout(t, 2*time.Minute)

	pull := func(path string) ([]byte, *incus.FileInfo) {
		t.Helper()
		rc, info, err := c.PullFile(ctx, name, path)
		if err != nil {
			t.Fatal(err)
		}
		if rc == nil {
			return nil, info
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return b, info
	}
	stat := func(path string) string {
		t.Helper()
		var out bytes.Buffer
		if code, err := c.Exec(ctx, name, incus.Cmd{Command: []string{"stat", "-c", "%a %u %g %F", path}, Stdout: &out}); err != nil || code != 0 {
			t.Fatalf("stat %s: %d %v", path, code, err)
		}
		return strings.TrimSpace(out.String())
	}

	data := randomBytes(t, 1<<20)
	if err := c.PushFile(ctx, name, "/tmp/data.bin", bytes.NewReader(data), incus.PushOptions{Mode: 0o640, UID: 1000, GID: 1001}); err != nil {
		t.Fatal(err)
	}
	got, info := pull("/tmp/data.bin")
	if !bytes.Equal(got, data) {
		t.Errorf("pulled %d bytes, not the %d pushed", len(got), len(data))
	}
	if want := (incus.FileInfo{Type: incus.TypeFile, Mode: 0o640, UID: 1000, GID: 1001}); !reflect.DeepEqual(*info, want) {
		t.Errorf("info %+v, want %+v", *info, want)
	}
	if s := stat("/tmp/data.bin"); s != "640 1000 1001 regular file" {
		t.Errorf("stat in the container: %q", s)
	}

	if err := c.PushFile(ctx, name, "/tmp/data.bin", strings.NewReader("tail"), incus.PushOptions{Append: true, Mode: 0o640, UID: 1000, GID: 1001}); err != nil {
		t.Fatal(err)
	}
	if got, _ := pull("/tmp/data.bin"); !bytes.Equal(got, append(data, "tail"...)) {
		t.Errorf("after append: %d bytes", len(got))
	}

	if err := c.PushFile(ctx, name, "/tmp/d", nil, incus.PushOptions{Type: incus.TypeDirectory, Mode: 0o750}); err != nil {
		t.Fatal(err)
	}
	if err := c.PushFile(ctx, name, "/tmp/d/x", strings.NewReader("x"), incus.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, info := pull("/tmp/d"); info.Type != incus.TypeDirectory || info.Mode != 0o750 || !slices.Equal(info.Entries, []string{"x"}) {
		t.Errorf("directory %+v", info)
	}
	if s := stat("/tmp/d"); s != "750 0 0 directory" {
		t.Errorf("stat of the directory: %q", s)
	}
	if _, info := pull("/tmp/d/x"); info.Mode != 0o644 {
		t.Errorf("default mode %v, want 0644", info.Mode)
	}

	if err := c.PushFile(ctx, name, "/tmp/link", strings.NewReader("/tmp/data.bin"), incus.PushOptions{Type: incus.TypeSymlink}); err != nil {
		t.Fatal(err)
	}
	if target, info := pull("/tmp/link"); info.Type != incus.TypeSymlink || string(target) != "/tmp/data.bin" {
		t.Errorf("symlink %q %+v", target, info)
	}

	for _, p := range []string{"/tmp/link", "/tmp/d/x", "/tmp/data.bin"} {
		if err := c.DeleteFile(ctx, name, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := c.PullFile(ctx, name, "/tmp/data.bin"); !errors.Is(err, incus.ErrNotFound) {
		t.Errorf("pull after delete: %v, want ErrNotFound", err)
	}
	if err := c.PushFile(ctx, name, "/no/such/dir/f", strings.NewReader("x"), incus.PushOptions{}); err == nil {
		t.Error("push into a missing directory succeeded")
	}
}

// tarball builds a gzipped tarball of files (name -> content).
func tarball(t testing.TB, files map[string]string) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		mode := int64(0o644)
		typ := byte(tar.TypeReg)
		if strings.HasSuffix(n, "/") {
			mode, typ = 0o755, tar.TypeDir
		}
		hdr := &tar.Header{Name: n, Mode: mode, Size: int64(len(files[n])), Typeflag: typ, ModTime: time.Unix(0, 0)}
		if typ == tar.TypeDir {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestImagesE2E imports a tiny split image built here, works its aliases
// and deletes it.
func TestImagesE2E(t *testing.T) {
	t.Parallel()
	c, _ := e2eClient(t)
	ctx := timeout(t, 2*time.Minute)
	srv, err := c.Server(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := testbed.Name("img")
	meta := tarball(t, map[string]string{"metadata.yaml": fmt.Sprintf(
		"architecture: %s\ncreation_date: %d\nproperties:\n  description: %s\n  os: kapsule-e2e\n",
		srv.Environment.KernelArchitecture, time.Now().Unix(), id)})
	rootfs := tarball(t, map[string]string{"etc/": "", "etc/kapsule-e2e": id + "\n"})
	sum := sha256.Sum256(append(append([]byte{}, meta...), rootfs...))
	wantFP := hex.EncodeToString(sum[:])
	t.Cleanup(func() { _, _ = testbed.IncusErr("image", "delete", wantFP) })
	alias, alias2 := id+"/one", id+"-two"

	op, err := c.ImportImage(ctx, incus.ImageImport{
		Metadata: bytes.NewReader(meta), Rootfs: bytes.NewReader(rootfs),
		Aliases: []string{alias}, Properties: map[string]string{"kapsule.test": id}, Filename: id + ".tar.gz",
	})
	if err != nil {
		t.Fatal(err)
	}
	done, err := op.Wait(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fp := done.MetadataString("fingerprint"); fp != wantFP {
		t.Fatalf("fingerprint %q, want sha256(metadata, rootfs) %q", fp, wantFP)
	}

	img, err := c.Image(ctx, wantFP)
	if err != nil {
		t.Fatal(err)
	}
	if img.Properties["description"] != id || img.Properties["kapsule.test"] != id || img.Type != "container" ||
		len(img.Aliases) != 1 || img.Aliases[0].Name != alias {
		t.Errorf("image %+v", img)
	}
	imgs, err := c.Images(ctx)
	if err != nil || !slices.ContainsFunc(imgs, func(i incus.Image) bool { return i.Fingerprint == wantFP }) {
		t.Errorf("Images: %d images, %v", len(imgs), err)
	}
	if a, err := c.ImageAlias(ctx, alias); err != nil || a.Target != wantFP {
		t.Errorf("ImageAlias(%s) = %+v, %v", alias, a, err)
	}

	if err := c.CreateImageAlias(ctx, incus.ImageAlias{Name: alias2, Target: wantFP, Description: "second"}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateImageAlias(ctx, incus.ImageAlias{Name: alias2, Target: wantFP}); !errors.Is(err, incus.ErrAlreadyExists) {
		t.Errorf("duplicate alias: %v, want ErrAlreadyExists", err)
	}
	if a, err := c.ImageAlias(ctx, alias2); err != nil || a.Description != "second" {
		t.Errorf("ImageAlias(%s) = %+v, %v", alias2, a, err)
	}
	if err := c.DeleteImageAlias(ctx, alias2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ImageAlias(ctx, alias2); !errors.Is(err, incus.ErrNotFound) {
		t.Errorf("deleted alias: %v, want ErrNotFound", err)
	}

	mustWait(t, ctx)(c.DeleteImage(ctx, wantFP))
	if _, err := c.Image(ctx, wantFP); !errors.Is(err, incus.ErrNotFound) {
		t.Errorf("image after delete: %v, want ErrNotFound", err)
	}
	if _, err := c.ImageAlias(ctx, alias); !errors.Is(err, incus.ErrNotFound) {
		t.Errorf("alias of the deleted image: %v", err)
	}
}
