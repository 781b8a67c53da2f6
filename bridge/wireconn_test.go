package bridge

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDialBusAddress(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "a bus,with=odd;chars")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	abstract := fmt.Sprintf("kapsule-test-%d-%x", os.Getpid(), rand.Uint64())
	la, err := net.Listen("unix", "@"+abstract)
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()
	escaped := strings.NewReplacer(" ", "%20", ",", "%2c", "=", "%3d", ";", "%3B").Replace(path)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, addr := range []string{
		"unix:path=" + escaped,
		"unix:path=" + escaped + ",guid=0123456789abcdef0123456789abcdef",
		"unix:abstract=" + abstract,
		"unix:path=" + filepath.Join(dir, "missing") + ";unix:path=" + escaped,
		"nonsense:x=y;unix:abstract=" + abstract,
	} {
		c, err := dialBusAddress(ctx, addr)
		if err != nil {
			t.Errorf("dial %q: %v", addr, err)
			continue
		}
		c.Close()
	}
	for _, addr := range []string{"", "unix:path=%zz", "unix:tmpdir=/tmp", "unix:path=" + filepath.Join(dir, "missing"), "launchd:env=X"} {
		if c, err := dialBusAddress(ctx, addr); err == nil {
			c.Close()
			t.Errorf("dial %q: no error", addr)
		}
	}
}
