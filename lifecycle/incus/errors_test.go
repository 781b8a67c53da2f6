package incus

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestErrorMapsStatusToSentinels(t *testing.T) {
	t.Parallel()
	sentinels := []error{ErrNotFound, ErrAlreadyExists, ErrForbidden, ErrPreconditionFailed}
	tests := []struct {
		name     string
		recorded string // testdata/recorded response
		status   int
		want     error // the one sentinel it must match, or nil
		msg      string
	}{
		{"404 instance", "error-404-instance.json", 404, ErrNotFound,
			`get instance "nope": failed to fetch instance "nope" in project "default": Instance not found`},
		{"409 alias", "error-409-alias.json", 409, ErrAlreadyExists,
			`get instance "nope": alias "kt-rec-tiny2" already exists`},
		{"412 etag keeps the acronym", "error-412-etag.json", 412, ErrPreconditionFailed,
			`get instance "nope": ETag doesn't match: 7cf340944992b8448d50a49c5a3b7b00fdf4df611a3aa657644af1a74de7ee62 vs bogus`},
		{"400 running", "error-400-running.json", 400, nil,
			`get instance "nope": instance is running`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.handle("GET /1.0/instances/{name}", replay(t, tt.recorded, tt.status))
			_, _, err := f.client().Instance(context.Background(), "nope")
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error(); got != tt.msg {
				t.Errorf("message\n got %s\nwant %s", got, tt.msg)
			}
			if e := errorsAsError(t, err); e.StatusCode != tt.status {
				t.Errorf("status %d, want %d", e.StatusCode, tt.status)
			}
			for _, s := range sentinels {
				if got := errors.Is(err, s); got != (s == tt.want) {
					t.Errorf("errors.Is(err, %v) = %v", s, got)
				}
			}
		})
	}
}

func TestErrorForbidden(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.handle("GET /1.0/instances", func(w http.ResponseWriter, r *http.Request) {
		errorReply(w, http.StatusForbidden, "Certificate is restricted")
	})
	_, err := f.client().Instances(context.Background(), InstanceQuery{})
	if !errors.Is(err, ErrForbidden) || errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrForbidden only", err)
	}
	if want := "list instances: certificate is restricted"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

func TestErrorWithoutEnvelope(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.handle("GET /1.0", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	})
	_, err := f.client().Server(context.Background())
	if want := "get server: bad gateway"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if e := errorsAsError(t, err); e.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d", e.StatusCode)
	}
}

func TestDialErrors(t *testing.T) {
	t.Parallel()
	dir := shortTempDir(t)

	// A socket file with nobody listening: refuses connections.
	refusing := filepath.Join(dir, "refusing.socket")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: refusing, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()

	tests := []struct {
		name   string
		socket string
		kind   error
		errno  syscall.Errno
		msg    string
	}{
		{"missing socket", filepath.Join(dir, "missing.socket"), ErrUnavailable, syscall.ENOENT,
			`get server: Incus is not running (no socket at ` + filepath.Join(dir, "missing.socket") +
				`): start incus, e.g. "systemctl start incus.socket"`},
		{"refusing socket", refusing, ErrUnavailable, syscall.ECONNREFUSED,
			`get server: Incus is not running (nothing listens on ` + refusing +
				`): start incus, e.g. "systemctl start incus.socket"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := NewUnix(tt.socket)
			defer c.Close()
			_, err := c.Server(context.Background())
			if !errors.Is(err, tt.kind) || !errors.Is(err, tt.errno) {
				t.Fatalf("err = %v, want %v and %v", err, tt.kind, tt.errno)
			}
			if errors.Is(err, ErrPermission) {
				t.Errorf("err %v also matches ErrPermission", err)
			}
			if err.Error() != tt.msg {
				t.Errorf("message\n got %s\nwant %s", err, tt.msg)
			}
		})
	}
}

func TestDialPermissionDenied(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root opens any socket; the mapping is covered by TestDialErrorMapping, and this test runs as the test user under make test-e2e")
	}
	f := newFake(t)
	if err := os.Chmod(f.socket, 0); err != nil {
		t.Fatal(err)
	}
	_, err := f.client().Server(context.Background())
	if !errors.Is(err, ErrPermission) || !errors.Is(err, syscall.EACCES) {
		t.Fatalf("err = %v, want ErrPermission", err)
	}
	want := "get server: permission denied on " + f.socket + ": add your user to the incus-admin group, or use the incus-user socket"
	if err.Error() != want {
		t.Errorf("message\n got %s\nwant %s", err, want)
	}
}

func TestDialErrorMapping(t *testing.T) {
	t.Parallel()
	opErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", errno)}
	}
	tests := []struct {
		name string
		path string
		err  error
		kind error
		msg  string
	}{
		{"admin socket not accessible", "/var/lib/incus/unix.socket", opErr(syscall.EACCES), ErrPermission,
			"permission denied on /var/lib/incus/unix.socket: add your user to the incus-admin group, or use the incus-user socket"},
		{"user socket not accessible", "/var/lib/incus/unix.socket.user", opErr(syscall.EACCES), ErrPermission,
			"permission denied on /var/lib/incus/unix.socket.user: add your user to the incus group"},
		{"EPERM", "/run/incus/unix.socket", opErr(syscall.EPERM), ErrPermission,
			"permission denied on /run/incus/unix.socket: add your user to the incus-admin group, or use the incus-user socket"},
		{"no socket", "/var/lib/incus/unix.socket", opErr(syscall.ENOENT), ErrUnavailable,
			`Incus is not running (no socket at /var/lib/incus/unix.socket): start incus, e.g. "systemctl start incus.socket"`},
		{"other", "/x.socket", opErr(syscall.ENOTSOCK), ErrUnavailable,
			"cannot reach Incus on /x.socket: dial unix: connect: socket operation on non-socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := unixDialError(tt.path, tt.err)
			if !errors.Is(err, tt.kind) {
				t.Errorf("%v does not match %v", err, tt.kind)
			}
			if err.Error() != tt.msg {
				t.Errorf("message\n got %s\nwant %s", err, tt.msg)
			}
		})
	}
}

func TestRemoteUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := NewRemote("https://"+addr, nil)
	defer c.Close()
	_, err = c.Server(context.Background())
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if !strings.HasPrefix(err.Error(), "get server: cannot reach Incus at https://"+addr+": ") {
		t.Errorf("message %q", err)
	}
}

func TestCancelledContextIsNotUnavailable(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.client().Server(ctx)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want context.Canceled only", err)
	}
}

// shortTempDir is a temporary directory with a path short enough for unix
// sockets.
func shortTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "incus")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
