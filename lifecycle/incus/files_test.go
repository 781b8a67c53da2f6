package incus

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestPushFileHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    PushOptions
		content string
		want    map[string]string // headers
	}{
		{"defaults", PushOptions{}, "hello\n", map[string]string{
			"X-Incus-Type": "file", "X-Incus-Uid": "0", "X-Incus-Gid": "0", "X-Incus-Write": "overwrite", "X-Incus-Mode": "",
		}},
		{"mode is octal with a leading zero", PushOptions{Mode: 0o640, UID: 1000, GID: 1000}, "x", map[string]string{
			"X-Incus-Type": "file", "X-Incus-Uid": "1000", "X-Incus-Gid": "1000", "X-Incus-Mode": "0640",
		}},
		{"append", PushOptions{Append: true}, "more", map[string]string{"X-Incus-Write": "append"}},
		{"directory", PushOptions{Type: TypeDirectory, Mode: 0o700}, "", map[string]string{"X-Incus-Type": "directory", "X-Incus-Mode": "0700"}},
		{"symlink", PushOptions{Type: TypeSymlink}, "/etc/hostname", map[string]string{"X-Incus-Type": "symlink"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.handle("POST /1.0/instances/{name}/files", replay(t, "sync-empty.json", 200))
			err := f.client().PushFile(context.Background(), "dev", "/tmp/a b", strings.NewReader(tt.content), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			r := f.last("POST", "/1.0/instances/dev/files")
			if r.Query.Get("path") != "/tmp/a b" {
				t.Errorf("path %q", r.Query.Get("path"))
			}
			if string(r.Body) != tt.content {
				t.Errorf("body %q, want %q", r.Body, tt.content)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/octet-stream" {
				t.Errorf("Content-Type %q: a form type makes Incus swallow the body", ct)
			}
			for k, v := range tt.want {
				if got := r.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestPushFileRefusesSpecialBits(t *testing.T) {
	t.Parallel()
	for _, m := range []fs.FileMode{fs.ModeSetuid | 0o755, fs.ModeSetgid | 0o755, fs.ModeSticky | 0o777} {
		err := NewUnix("/nonexistent").PushFile(context.Background(), "dev", "/x", nil, PushOptions{Mode: m})
		if err == nil || !strings.Contains(err.Error(), "Incus sets only permission bits") {
			t.Errorf("mode %v: %v", m, err)
		}
	}
}

func TestPullFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		headers map[string]string
		body    string
		want    FileInfo
		content string
	}{
		{"file", map[string]string{"X-Incus-Type": "file", "X-Incus-Mode": "0640", "X-Incus-Uid": "12", "X-Incus-Gid": "34"},
			"hello\x00\xff", FileInfo{Type: TypeFile, Mode: 0o640, UID: 12, GID: 34}, "hello\x00\xff"},
		{"symlink", map[string]string{"X-Incus-Type": "symlink", "X-Incus-Mode": "0777", "X-Incus-Uid": "0", "X-Incus-Gid": "0"},
			"/tmp/hello.txt", FileInfo{Type: TypeSymlink, Mode: 0o777}, "/tmp/hello.txt"},
		{"directory", map[string]string{"X-Incus-Type": "directory", "X-Incus-Mode": "0755", "X-Incus-Uid": "0", "X-Incus-Gid": "0"},
			string(recorded(t, "file-directory.json")),
			FileInfo{Type: TypeDirectory, Mode: 0o755, Entries: []string{"sources.list.d", "auth.conf.d", "trusted.gpg.d", "keyrings", "apt.conf.d", "preferences.d", "sources.list"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.handle("GET /1.0/instances/{name}/files", func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.headers {
					w.Header().Set(k, v)
				}
				io.WriteString(w, tt.body)
			})
			rc, info, err := f.client().PullFile(context.Background(), "dev", "/x")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*info, tt.want) {
				t.Errorf("info %+v, want %+v", *info, tt.want)
			}
			if tt.want.Type == TypeDirectory {
				if rc != nil {
					t.Error("content for a directory")
				}
				return
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil || string(b) != tt.content {
				t.Errorf("content %q, %v", b, err)
			}
		})
	}
}

func TestFileErrors(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	notFound := func(w http.ResponseWriter, r *http.Request) { errorReply(w, 404, "Not Found") }
	f.handle("GET /1.0/instances/{name}/files", notFound)
	f.handle("DELETE /1.0/instances/{name}/files", notFound)
	f.handle("POST /1.0/instances/{name}/files", notFound)
	c := f.client()
	ctx := context.Background()
	_, _, err := c.PullFile(ctx, "dev", "/nope")
	if !errors.Is(err, ErrNotFound) || err.Error() != `pull /nope from instance "dev": not found` {
		t.Errorf("PullFile: %v", err)
	}
	if err := c.DeleteFile(ctx, "dev", "/nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteFile: %v", err)
	}
	if err := c.PushFile(ctx, "dev", "/no/parent", nil, PushOptions{Type: TypeDirectory}); !errors.Is(err, ErrNotFound) {
		t.Errorf("PushFile: %v", err)
	}
}
