package webhook_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/pipeline/webhook"
)

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "alharvest-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestListenServesTLS(t *testing.T) {
	js := natstest.Provisioned(t)
	certFile, keyFile, pool := selfSigned(t)
	rcv := webhook.New(js, webhook.Config{Threshold: 7000, Auth: webhook.Auth{Token: token}})
	s, err := webhook.Listen("127.0.0.1:0", certFile, keyFile, rcv, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") || !strings.HasSuffix(s.URL(), webhook.Path) {
		t.Fatalf("URL %s", s.URL())
	}
	post := func(c *http.Client, url string) (int, error) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(push("Tls1", 9000, false)))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if code, err := post(trusting, s.URL()); err != nil || code != http.StatusAccepted {
		t.Fatalf("over TLS: %d %v", code, err)
	}
	if _, err := post(http.DefaultClient, s.URL()); err == nil {
		t.Error("a client not trusting the certificate got through")
	}
	if code, err := post(http.DefaultClient, strings.Replace(s.URL(), "https://", "http://", 1)); err == nil && code < 400 {
		t.Errorf("plain http to the TLS receiver answered %d", code)
	}
}

func TestListenErrors(t *testing.T) {
	if _, err := webhook.Listen("127.0.0.1:0", "/nonexistent/cert.pem", "/nonexistent/key.pem", http.NotFoundHandler(), nil); err == nil || !strings.Contains(err.Error(), "WEBHOOK_TLS_CERT") {
		t.Errorf("missing certificate: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := webhook.Listen(l.Addr().String(), "", "", http.NotFoundHandler(), nil); err == nil || !strings.Contains(err.Error(), "WEBHOOK_ADDR") {
		t.Errorf("port taken: %v", err)
	}
}

// openFDs counts this process's open descriptors, or skips where /proc
// does not tell.
func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(es)
}

// TestServerBoundsIdleConnections: forty idle connections to the
// receiver hold at most its cap of the process's descriptors; each is cut
// off once its header timeout passes, and a real push that arrives among
// them waits its turn and is stored.
func TestServerBoundsIdleConnections(t *testing.T) {
	if webhook.DefaultLimits.MaxConns <= 0 || webhook.DefaultLimits.ReadHeaderTimeout <= 0 || webhook.DefaultLimits.ReadTimeout <= 0 ||
		webhook.DefaultLimits.WriteTimeout <= 0 || webhook.DefaultLimits.IdleTimeout <= 0 {
		t.Errorf("DefaultLimits leave something unbounded: %+v", webhook.DefaultLimits)
	}
	js := natstest.Provisioned(t)
	quiet := slog.New(slog.DiscardHandler)
	rcv := webhook.New(js, webhook.Config{Threshold: 7000, Auth: webhook.Auth{Token: token}, Logger: quiet})
	s, err := webhook.Listen("127.0.0.1:0", "", "", rcv, quiet)
	if err != nil {
		t.Fatal(err)
	}
	const capN, idle = 8, 40
	s.Limits.MaxConns = capN
	s.Limits.ReadHeaderTimeout = 500 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-served })
	addr := strings.TrimSuffix(strings.TrimPrefix(s.URL(), "http://"), webhook.Path)

	before := openFDs(t)
	for range idle {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	time.Sleep(200 * time.Millisecond) // let the server accept what it will
	// Our own client ends count too; the server's may add at most capN
	// (a few more for the runtime and NATS would not reach 2×idle).
	if grew := openFDs(t) - before; grew > idle+capN+4 {
		t.Errorf("%d idle connections opened %d descriptors; the server holds more than its cap of %d", idle, grew, capN)
	}

	req, _ := http.NewRequest(http.MethodPost, s.URL(), strings.NewReader(push("Idle1", 9000, false)))
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("a push among idle connections: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("push answered %d, want 202", resp.StatusCode)
	}
}
