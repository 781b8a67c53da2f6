//go:build e2e

package incus_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"testing"
	"time"

	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// TestRemoteTLSE2E makes the test bed's incusd listen on HTTPS on the
// loopback, trusts a client certificate made here, and runs the instance
// round trip over TLS with the server certificate verified.
func TestRemoteTLSE2E(t *testing.T) {
	t.Parallel()
	admin, bed := e2eClient(t)
	ctx := timeout(t, 5*time.Minute)

	srv, err := admin.Server(ctx)
	if err != nil {
		t.Fatal(err)
	}
	addr := httpsAddress(t, ctx, admin, srv)

	// A client certificate, trusted through the admin socket.
	certPEM, keyPEM, der := clientCertificate(t)
	certName := testbed.Name("tls")
	if err := admin.TrustCertificate(ctx, certName, certPEM); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	fingerprint := hex.EncodeToString(sum[:])
	t.Cleanup(func() {
		if err := admin.DeleteCertificate(context.Background(), fingerprint); err != nil {
			t.Errorf("remove the test certificate: %v", err)
		}
	})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}

	// The server certificate: from disk when readable, else from GET /1.0.
	serverPEM, err := os.ReadFile("/var/lib/incus/server.crt")
	if err != nil {
		t.Logf("server certificate from GET /1.0 (%v)", err)
		serverPEM = []byte(srv.Environment.Certificate)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(serverPEM) {
		t.Fatalf("no certificate in %q", serverPEM)
	}

	base := "https://" + addr
	remote := incus.NewRemote(base, &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, MinVersion: tls.VersionTLS12})
	t.Cleanup(remote.Close)
	var rs *incus.Server
	if !eventually(10*time.Second, func() bool { rs, err = remote.Server(ctx); return err == nil }) {
		t.Fatalf("server over TLS: %v", err)
	}
	if !rs.Trusted() || rs.AuthUserMethod != "tls" || rs.AuthUserName != fingerprint {
		t.Errorf("auth %q by %q as %q, want trusted by tls as %s", rs.Auth, rs.AuthUserMethod, rs.AuthUserName, fingerprint)
	}

	// A server it cannot verify is refused.
	unverified := incus.NewRemote(base, &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: x509.NewCertPool()})
	defer unverified.Close()
	var unknown x509.UnknownAuthorityError
	if _, err := unverified.Server(ctx); !errors.As(err, &unknown) {
		t.Errorf("unverifiable server: %v, want an unknown-authority error", err)
	}

	// The round trip, events included, over TLS.
	l, err := remote.Events(ctx, incus.EventLifecycle)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	name := testbed.Name("remote")
	testbed.CleanupContainer(t, name)
	mustWait(t, ctx)(remote.CreateInstance(ctx, incus.InstancesPost{Name: name, Source: incus.LocalImage(bed.Image), Start: true}))
	if ev := expectLifecycle(t, l, name, incus.InstanceStarted); ev.Lifecycle.Requestor == nil || ev.Lifecycle.Requestor.Username != fingerprint {
		t.Errorf("started by %+v, want the certificate %s", ev.Lifecycle.Requestor, fingerprint)
	}

	in := randomBytes(t, 1<<20)
	var stdout, stderr bytes.Buffer
	code, err := remote.Exec(ctx, name, incus.Cmd{
		Command: []string{"sh", "-c", "cat; echo err >&2; exit 3"},
		Stdin:   bytes.NewReader(in), Stdout: &stdout, Stderr: &stderr,
	})
	if err != nil || code != 3 || !bytes.Equal(stdout.Bytes(), in) || stderr.String() != "err\n" {
		t.Errorf("exec over TLS = %d, %v; %d bytes of stdout, stderr %q", code, err, stdout.Len(), stderr.String())
	}

	mustWait(t, ctx)(remote.StopInstance(ctx, name, incus.StopOptions{Force: true}))
	mustWait(t, ctx)(remote.DeleteInstance(ctx, name))
	expectLifecycle(t, l, name, incus.InstanceDeleted)
}

// httpsAddress returns an address on which incusd serves HTTPS: its own
// if it has one, else a free loopback port set here and unset at cleanup.
func httpsAddress(t *testing.T, ctx context.Context, admin *incus.Client, srv *incus.Server) string {
	if old := srv.Config["core.https_address"]; old != "" {
		_, port, err := net.SplitHostPort(old)
		if err != nil {
			port = "8443"
		}
		t.Logf("incusd already listens on %s; using it and leaving it alone", old)
		return net.JoinHostPort("127.0.0.1", port)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if err := admin.PatchServerConfig(ctx, map[string]string{"core.https_address": addr}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := admin.PatchServerConfig(context.Background(), map[string]string{"core.https_address": ""}); err != nil {
			t.Errorf("restore core.https_address: %v", err)
		}
	})
	return addr
}

// clientCertificate makes a self-signed client certificate.
func clientCertificate(t *testing.T) (certPEM, keyPEM, der []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "kapsule-e2e", Organization: []string{"Kapsule tests"}},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), der
}
