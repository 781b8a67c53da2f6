//go:build e2e

package incus_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// splitImage is a split container image on disk: a metadata tarball
// (metadata.yaml, templates/) and a root filesystem tarball.
type splitImage struct {
	Meta         []byte // small: kept in memory
	Rootfs       string // path of the rootfs tarball
	RootfsSize   int64
	RootfsSHA256 string
}

// Fingerprint is what Incus names a split image by: the SHA-256 of the
// metadata bytes followed by the rootfs bytes.
func (img *splitImage) Fingerprint(t testing.TB) string {
	t.Helper()
	f, err := os.Open(img.Rootfs)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	h.Write(img.Meta)
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// exportImage downloads an image of the server's store through the API
// (GET /1.0/images/<fingerprint>/export, a multipart body with the
// "metadata" and "rootfs" parts of a split image), its rootfs into dir.
// The client package has no export call, so this speaks HTTP over the
// socket itself.
func exportImage(t testing.TB, ctx context.Context, socket, fingerprint, dir string) *splitImage {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://incus/1.0/images/"+url.PathEscape(fingerprint)+"/export", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("export image %s: %s: %s", fingerprint, resp.Status, b)
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("export image %s: content type %q (%v): not a split image", fingerprint, resp.Header.Get("Content-Type"), err)
	}
	img := &splitImage{Rootfs: filepath.Join(dir, "rootfs.tar")}
	parts := multipart.NewReader(resp.Body, params["boundary"])
	for {
		part, err := parts.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("export image %s: %v", fingerprint, err)
		}
		switch part.FormName() {
		case "metadata":
			if img.Meta, err = io.ReadAll(part); err != nil {
				t.Fatalf("export image %s: metadata: %v", fingerprint, err)
			}
		case "rootfs":
			f, err := os.Create(img.Rootfs)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			img.RootfsSize, err = io.Copy(io.MultiWriter(f, h), part)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatalf("export image %s: rootfs: %v", fingerprint, err)
			}
			img.RootfsSHA256 = hex.EncodeToString(h.Sum(nil))
		default:
			t.Fatalf("export image %s: unexpected part %q (a VM image?)", fingerprint, part.FormName())
		}
	}
	if img.Meta == nil || img.RootfsSize == 0 {
		t.Fatalf("export image %s: metadata %d bytes, rootfs %d bytes", fingerprint, len(img.Meta), img.RootfsSize)
	}
	if got := img.Fingerprint(t); got != fingerprint {
		t.Fatalf("exported image hashes to %s, not its fingerprint %s", got, fingerprint)
	}
	return img
}

var metadataDescription = regexp.MustCompile(`(?m)^(  description:).*$`)

// redescribe rewrites a gzipped metadata tarball with a new
// properties.description in metadata.yaml, everything else as it was. The
// image then has a fingerprint of its own.
func redescribe(t testing.TB, meta []byte, description string) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(meta))
	if err != nil {
		t.Fatalf("metadata tarball: %v", err)
	}
	tr := tar.NewReader(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	found := false
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("metadata tarball: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("metadata tarball: %s: %v", hdr.Name, err)
		}
		if strings.TrimPrefix(hdr.Name, "./") == "metadata.yaml" {
			if !metadataDescription.Match(body) {
				t.Fatalf("metadata.yaml has no properties.description:\n%s", body)
			}
			body = metadataDescription.ReplaceAll(body, []byte("${1} "+description))
			hdr.Size = int64(len(body))
			found = true
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if !found {
		t.Fatal("metadata tarball without metadata.yaml")
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// debianArch is the architecture name image servers use in products
// (images.linuxcontainers.org: amd64, arm64, ...) for a kernel's; Incus
// takes either.
func debianArch(kernel string) string {
	switch kernel {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	case "armv7l":
		return "armhf"
	case "i686":
		return "i386"
	case "ppc64le":
		return "ppc64el"
	}
	return kernel
}

// ssStore is a simplestreams image server on an HTTPS loopback listener
// with one product of one version: a split container image, its rootfs
// paced so that its download takes RootfsTime.
type ssStore struct {
	URL     string // base URL, with a path prefix of its own
	CertPEM string // the server's certificate
	Alias   string
	Serial  string // the version, "YYYYMMDD_hh:mm"

	srv            *httptest.Server
	rootfsServed   atomic.Int32 // complete rootfs downloads
	rootfsRequests atomic.Int32
}

// serveSimplestreams starts the store; it stops when the test ends.
//
// What Incus reads (shared/simplestreams): streams/v1/index.json lists the
// products files of datatype "image-downloads"; a product has an arch
// Incus knows, os/release/release_title/variant, comma-separated aliases
// and versions keyed by a name starting with a YYYYMMDD date; a version's
// items are the metadata (ftype incus.tar.xz, which carries the image
// fingerprint as combined_rootxz_sha256 / combined_sha256) and the rootfs
// (ftype root.tar.xz), each with path, size and sha256, which Incus checks
// on download. The ftypes only name the roles: Incus detects compression
// by content, so the gzip tarballs are served as they are, under .tar.gz
// names.
//
// The base URL has a unique path prefix: incusd caches index.json and the
// products file for an hour per server URL, and a later run on a reused
// port must not see this run's products.
func serveSimplestreams(t testing.TB, id, arch, alias, fingerprint string, img *splitImage, rootfsTime time.Duration) *ssStore {
	t.Helper()
	st := &ssStore{Alias: alias, Serial: time.Now().UTC().Format("20060102_15:04")}
	prefix := "/" + id + "/"
	dir := "images/kapsule-e2e/" + st.Serial + "/"
	metaPath, rootfsPath := dir+"incus.tar.gz", dir+"root.tar.gz"
	productID := "kapsule-e2e:" + id + ":" + arch + ":default"
	index := map[string]any{
		"format": "index:1.0",
		"index": map[string]any{
			"images": map[string]any{
				"datatype": "image-downloads",
				"format":   "products:1.0",
				"path":     "streams/v1/images.json",
				"products": []string{productID},
			},
		},
	}
	products := map[string]any{
		"content_id": "images",
		"datatype":   "image-downloads",
		"format":     "products:1.0",
		"products": map[string]any{
			productID: map[string]any{
				"aliases":       alias,
				"arch":          arch,
				"os":            "Debian",
				"release":       "bookworm",
				"release_title": "12",
				"variant":       "default",
				"versions": map[string]any{
					st.Serial: map[string]any{
						"items": map[string]any{
							"incus.tar.xz": map[string]any{
								"ftype":                  "incus.tar.xz",
								"path":                   metaPath,
								"size":                   len(img.Meta),
								"sha256":                 sha256Hex(img.Meta),
								"combined_sha256":        fingerprint,
								"combined_rootxz_sha256": fingerprint,
							},
							"root.tar.xz": map[string]any{
								"ftype":  "root.tar.xz",
								"path":   rootfsPath,
								"size":   img.RootfsSize,
								"sha256": img.RootfsSHA256,
							},
						},
					},
				},
			},
		},
	}

	mux := http.NewServeMux()
	serveJSON := func(path string, v any) {
		body, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		mux.HandleFunc("GET "+prefix+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		})
	}
	serveJSON("streams/v1/index.json", index)
	serveJSON("streams/v1/images.json", products)
	mux.HandleFunc("GET "+prefix+metaPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(img.Meta)))
		_, _ = w.Write(img.Meta)
	})
	mux.HandleFunc("GET "+prefix+rootfsPath, func(w http.ResponseWriter, r *http.Request) {
		st.rootfsRequests.Add(1)
		if paced(t, w, r, img.Rootfs, img.RootfsSize, rootfsTime) {
			st.rootfsServed.Add(1)
		}
	})

	logged := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		mux.ServeHTTP(w, r)
		t.Logf("simplestreams server: %s %s (%s) in %v", r.Method, r.URL.Path, r.UserAgent(), time.Since(start).Round(time.Millisecond))
	})
	st.srv = httptest.NewUnstartedServer(logged)
	st.srv.Config.ErrorLog = log.New(testWriter{t}, "simplestreams server: ", 0)
	st.srv.StartTLS()
	t.Cleanup(st.srv.Close)
	st.URL = st.srv.URL + strings.TrimSuffix(prefix, "/")
	st.CertPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: st.srv.Certificate().Raw}))
	return st
}

// paced sends the file so that it takes about d (Incus reports download
// progress by percent, the client sees it by polling once a second: a
// local download of the whole image is over before anyone looks). It
// reports whether the whole file went out.
func paced(t testing.TB, w http.ResponseWriter, r *http.Request, path string, size int64, d time.Duration) bool {
	f, err := os.Open(path)
	if err != nil {
		t.Errorf("simplestreams server: %v", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return false
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	buf := make([]byte, 256<<10)
	start := time.Now()
	var sent int64
	for {
		n, rerr := f.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return false
			}
			sent += int64(n)
			if sent == size {
				return true // no pause after the last byte: the client may hang up
			}
			due := start.Add(time.Duration(float64(d) * float64(sent) / float64(size)))
			select {
			case <-time.After(time.Until(due)):
			case <-r.Context().Done():
				return false
			}
		}
		if rerr == io.EOF {
			return sent == size
		}
		if rerr != nil {
			t.Errorf("simplestreams server: %v", rerr)
			return false
		}
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// testWriter logs each write to the test (for a server's error log).
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
