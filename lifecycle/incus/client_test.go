package incus

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func TestDefaultSocket(t *testing.T) {
	// Not parallel: it sets environment variables.
	tests := []struct {
		name      string
		socket    string
		dir       string
		want      string
		wantUser  string
		runExists bool
	}{
		{name: "INCUS_SOCKET wins", socket: "/tmp/x/my.socket", dir: "/srv/incus",
			want: "/tmp/x/my.socket", wantUser: "/tmp/x/unix.socket.user"},
		{name: "INCUS_DIR", dir: "/srv/incus",
			want: "/srv/incus/unix.socket", wantUser: "/srv/incus/unix.socket.user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("INCUS_SOCKET", tt.socket)
			t.Setenv("INCUS_DIR", tt.dir)
			if got := DefaultSocket(); got != tt.want {
				t.Errorf("DefaultSocket() = %q, want %q", got, tt.want)
			}
			if got := UserSocket(); got != tt.wantUser {
				t.Errorf("UserSocket() = %q, want %q", got, tt.wantUser)
			}
		})
	}
	t.Run("fallback", func(t *testing.T) {
		t.Setenv("INCUS_SOCKET", "")
		t.Setenv("INCUS_DIR", "")
		want := "/var/lib/incus/unix.socket"
		if _, err := os.Stat("/run/incus/unix.socket"); err == nil {
			want = "/run/incus/unix.socket"
		}
		if got := DefaultSocket(); got != want {
			t.Errorf("DefaultSocket() = %q, want %q", got, want)
		}
		if got, want := UserSocket(), filepath.Join(filepath.Dir(want), "unix.socket.user"); got != want {
			t.Errorf("UserSocket() = %q, want %q", got, want)
		}
	})
}

func TestProjectOnEveryScopedRequest(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	newFakeExec(f, catErr3)
	f.handle("GET /1.0/instances", replay(t, "instances-recursion-2.json", 200))
	f.handle("GET /1.0/certificates", func(w http.ResponseWriter, r *http.Request) { syncReply(w, []any{}) })
	f.handle("GET /1.0/events", func(w http.ResponseWriter, r *http.Request) {
		conn, err := fakeUpgrader.Upgrade(w, r, nil)
		if err == nil {
			conn.Close()
		}
	})
	c := f.client(WithProject("user-2000"))
	if c.Project() != "user-2000" {
		t.Errorf("Project() = %q", c.Project())
	}
	ctx := context.Background()
	if _, err := c.Instances(ctx, InstanceQuery{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "dev", Cmd{Command: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Certificates(ctx); err != nil {
		t.Fatal(err)
	}
	if l, err := c.Events(ctx); err != nil {
		t.Fatal(err)
	} else {
		l.Close()
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) < 8 {
		t.Fatalf("only %d requests seen", len(f.requests))
	}
	for _, r := range f.requests {
		got := r.Query["project"]
		global := r.Path == "/1.0/certificates"
		switch {
		case global && len(got) != 0:
			t.Errorf("%s %s carries project %v; certificates are global", r.Method, r.Path, got)
		case !global && (len(got) != 1 || got[0] != "user-2000"):
			t.Errorf("%s %s: project = %v, want [user-2000]", r.Method, r.Path, got)
		}
	}
}

func TestPathSegmentsAreEscaped(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.handle("GET /1.0/images/aliases/{name...}", replay(t, "image-alias.json", 200))
	a, err := f.client().ImageAlias(context.Background(), "kapsule-test/debian-12")
	if err != nil {
		t.Fatal(err)
	}
	if a.Target != "b00ac8b5f8c749c6dbb64eeca12e36ffe16f7d86536d2a66a726f981501c3089" {
		t.Errorf("target %q", a.Target)
	}
	if got := f.last("GET", "/1.0/images/aliases/kapsule-test/debian-12").Raw; got != "/1.0/images/aliases/kapsule-test%2Fdebian-12" {
		t.Errorf("escaped path %q", got)
	}
}

func TestKeepAlive(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.handle("GET /1.0", replay(t, "server.json", 200))
	c := f.client()
	for range 20 {
		if _, err := c.Server(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.newConns.Load(); n != 1 {
		t.Errorf("20 sequential calls used %d connections, want 1", n)
	}
}
