package incus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"reflect"
	"testing"
	"time"
)

func TestServer(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.handle("GET /1.0", replay(t, "server.json", 200))
	s, err := f.client().Server(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{"instances", "operation_wait", "container_exec_user_group_cwd", "event_lifecycle_name_and_project", "container_disk_shift"} {
		if !s.HasExtension(ext) {
			t.Errorf("extension %s missing", ext)
		}
	}
	if s.HasExtension("no_such_extension") {
		t.Error("HasExtension invents extensions")
	}
	env := s.Environment
	if env.ServerVersion != "6.0.4" || env.KernelFeatures["idmapped_mounts"] != "true" || env.Project != "default" ||
		env.Driver != "lxc" || env.ServerPID == 0 || env.Certificate == "" {
		t.Errorf("environment %+v", env)
	}
	if !s.Trusted() || s.AuthUserMethod != "unix" || s.AuthUserName != "root" || s.APIVersion != "1.0" {
		t.Errorf("auth %q %q %q", s.Auth, s.AuthUserMethod, s.AuthUserName)
	}
}

func TestPatchServerConfig(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.handle("PATCH /1.0", replay(t, "sync-empty.json", 200))
	if err := f.client().PatchServerConfig(context.Background(), map[string]string{"core.https_address": ""}); err != nil {
		t.Fatal(err)
	}
	got := decodeJSON(t, f.last("PATCH", "/1.0").Body)
	if !reflect.DeepEqual(got, map[string]any{"config": map[string]any{"core.https_address": ""}}) {
		t.Errorf("body %v", got)
	}
}

func TestTrustCertificate(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.handle("POST /1.0/certificates", replay(t, "sync-empty.json", 200))
	f.handle("DELETE /1.0/certificates/{fp}", replay(t, "sync-empty.json", 200))
	der := selfSigned(t)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	c := f.client()
	if err := c.TrustCertificate(context.Background(), "kapsule-test", certPEM, "user-1000"); err != nil {
		t.Fatal(err)
	}
	got := decodeJSON(t, f.last("POST", "/1.0/certificates").Body)
	want := map[string]any{
		"name": "kapsule-test", "type": "client", "restricted": true, "projects": []any{"user-1000"},
		"certificate": base64.StdEncoding.EncodeToString(der),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body %v", got)
	}
	if err := c.TrustCertificate(context.Background(), "x", []byte("junk")); err == nil {
		t.Error("junk accepted as a certificate")
	}
	if err := c.DeleteCertificate(context.Background(), "abcd"); err != nil {
		t.Error(err)
	}
}

func selfSigned(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kapsule-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
