package incus

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func TestImportImage(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	var parts []string
	var partData [][]byte
	f.handle("POST /1.0/images", func(w http.ResponseWriter, r *http.Request) {
		_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil {
			errorReply(w, 400, err.Error())
			return
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				errorReply(w, 400, err.Error())
				return
			}
			b, _ := io.ReadAll(p)
			parts = append(parts, p.FormName())
			partData = append(partData, b)
		}
		asyncReply(w, Operation{ID: "import-1", Description: "Downloading image", Status: "Running", StatusCode: StatusRunning})
	})
	f.handle("GET /1.0/operations/import-1/wait", replay(t, "image-import-wait.json", 200))
	meta := []byte("metadata tarball")
	rootfs := bytes.Repeat([]byte{0, 1, 2, 0xff}, 100000)
	op, err := f.client().ImportImage(context.Background(), ImageImport{
		Metadata: bytes.NewReader(meta), Rootfs: bytes.NewReader(rootfs),
		Aliases:    []string{"kapsule/debian", "second"},
		Properties: map[string]string{"os": "Debian", "description": "a b"},
		Filename:   "kapsule.tar",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(parts, []string{"metadata", "rootfs"}) || !bytes.Equal(partData[0], meta) || !bytes.Equal(partData[1], rootfs) {
		t.Errorf("parts %v (%d, %d bytes)", parts, len(partData[0]), len(partData[1]))
	}
	r := f.last("POST", "/1.0/images")
	aliases, _ := url.ParseQuery(r.Header.Get("X-Incus-aliases"))
	if !reflect.DeepEqual(aliases["alias"], []string{"kapsule/debian", "second"}) {
		t.Errorf("X-Incus-aliases %q", r.Header.Get("X-Incus-aliases"))
	}
	props, _ := url.ParseQuery(r.Header.Get("X-Incus-properties"))
	if props.Get("os") != "Debian" || props.Get("description") != "a b" {
		t.Errorf("X-Incus-properties %q", r.Header.Get("X-Incus-properties"))
	}
	if r.Header.Get("X-Incus-filename") != "kapsule.tar" || r.Header.Get("X-Incus-public") != "" {
		t.Errorf("headers %v", r.Header)
	}
	done, err := op.Wait(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if fp := done.MetadataString("fingerprint"); fp != "04dae9db8bf64c72f0fa65913af33a71dbe67c91230fa80d8b191c1e55834ea3" {
		t.Errorf("fingerprint %q", fp)
	}
}

func TestImportImageReadError(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.handle("POST /1.0/images", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		errorReply(w, 400, "bad upload")
	})
	_, err := f.client().ImportImage(context.Background(), ImageImport{
		Metadata: strings.NewReader("m"), Rootfs: iotest.ErrReader(errors.New("disk on fire")),
	})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") && !strings.Contains(err.Error(), "bad upload") {
		t.Fatalf("err = %v", err)
	}
	if _, err := f.client().ImportImage(context.Background(), ImageImport{Metadata: strings.NewReader("m")}); err == nil {
		t.Error("import without rootfs accepted")
	}
}

func TestImagesAndAliases(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.handle("GET /1.0/images", replay(t, "images.json", 200))
	f.handle("POST /1.0/images/aliases", replay(t, "error-409-alias.json", 409))
	f.handle("DELETE /1.0/images/aliases/{name...}", replay(t, "sync-empty.json", 200))
	f.handle("DELETE /1.0/images/{fp}", func(w http.ResponseWriter, r *http.Request) {
		asyncReply(w, Operation{ID: "del-1", Status: "Running", StatusCode: StatusRunning})
	})
	c := f.client()
	ctx := context.Background()
	imgs, err := c.Images(ctx)
	if err != nil || len(imgs) != 1 {
		t.Fatalf("Images: %v %v", imgs, err)
	}
	img := imgs[0]
	if img.Fingerprint != "b00ac8b5f8c749c6dbb64eeca12e36ffe16f7d86536d2a66a726f981501c3089" || img.Aliases[0].Name != "kapsule-test/debian-12" ||
		img.Size != 121125869 || img.Properties["os"] != "Debian" || img.Type != "container" {
		t.Errorf("image %+v", img)
	}
	if f.last("GET", "/1.0/images").Query.Get("recursion") != "1" {
		t.Error("images listed without recursion")
	}
	err = c.CreateImageAlias(ctx, ImageAlias{Name: "kt-rec-tiny2", Target: img.Fingerprint})
	if !errors.Is(err, ErrAlreadyExists) || err.Error() != `create image alias "kt-rec-tiny2": alias "kt-rec-tiny2" already exists` {
		t.Errorf("CreateImageAlias: %v", err)
	}
	body := decodeJSON(t, f.last("POST", "/1.0/images/aliases").Body)
	if !reflect.DeepEqual(body, map[string]any{"name": "kt-rec-tiny2", "target": img.Fingerprint, "description": ""}) {
		t.Errorf("alias body %v", body)
	}
	if err := c.DeleteImageAlias(ctx, "a/b"); err != nil {
		t.Error(err)
	}
	if got := f.last("DELETE", "/1.0/images/aliases/a/b").Raw; got != "/1.0/images/aliases/a%2Fb" {
		t.Errorf("alias path %q", got)
	}
	if op, err := c.DeleteImage(ctx, img.Fingerprint); err != nil || op.ID != "del-1" {
		t.Errorf("DeleteImage: %v %v", op, err)
	}
}
