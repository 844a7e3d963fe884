package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/ds"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs mlsd with args (plus a fresh store and a free port) until
// the returned stop is called; stop returns run's error.
func start(t *testing.T, args ...string) (addr string, logs *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &syncBuffer{}
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	args = append([]string{"--listen", "127.0.0.1:0", "--store", filepath.Join(t.TempDir(), "mlsd.db")}, args...)
	go func() { errc <- run(ctx, args, logs, func(a net.Addr) { addrc <- a.String() }) }()
	select {
	case addr = <-addrc:
	case err := <-errc:
		cancel()
		t.Fatalf("mlsd did not start: %v\n%s", err, logs)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("mlsd did not start")
	}
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(10 * time.Second):
				err = errors.New("mlsd did not stop")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return addr, logs, stop
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// as PEM files; it returns their paths and the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mlsd test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// TestTLS serves HTTPS with a generated certificate: a client trusting it
// gets answers, one that does not refuses the server, and plain HTTP is
// not served.
func TestTLS(t *testing.T) {
	certFile, keyFile, cert := selfSigned(t)
	addr, _, stop := start(t, "--tls-cert", certFile, "--tls-key", keyFile)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := trusting.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("healthz over TLS: %d %q", resp.StatusCode, body)
	}
	// A registration, signed, over TLS.
	if st := register(t, trusting, "https://"+addr, "alice-1"); st != http.StatusCreated {
		t.Fatalf("register over TLS: %d", st)
	}
	var unknown x509.UnknownAuthorityError
	if _, err := (&http.Client{Transport: &http.Transport{}}).Get("https://" + addr + "/healthz"); !errors.As(err, &unknown) {
		t.Fatalf("client without the certificate: %v, want an unknown authority error", err)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served on the TLS port")
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// register registers a new client id over c at base and returns the
// status.
func register(t *testing.T, c *http.Client, base, id string) int {
	t.Helper()
	st, _ := registerIdent(t, c, base, id)
	return st
}

const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519

func registerIdent(t *testing.T, c *http.Client, base, id string) (int, *mls.Identity) {
	t.Helper()
	ident, err := mls.NewBasicIdentity(suite, id)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(ds.RegisterRequest{ID: id, User: id, Suite: uint16(suite), SignatureKey: ident.SigningKey.PublicKey()})
	req, _ := http.NewRequest("POST", base+"/v1/clients", bytes.NewReader(body))
	if err := ds.SignRequest(req, id, ident.SigningKey, body); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, ident
}

// TestShutdownAndLogs stops mlsd (as SIGTERM does) while a long poll
// waits: the poll is answered at once and run returns. The JSON log has
// one line per request with route, status, duration and client, and
// neither the request signature nor the body.
func TestShutdownAndLogs(t *testing.T) {
	addr, logs, stop := start(t, "--log-format", "json", "--max-wait", "60s")
	base := "http://" + addr
	st, ident := registerIdent(t, http.DefaultClient, base, "alice-1")
	if st != http.StatusCreated {
		t.Fatalf("register: %d", st)
	}
	req, _ := http.NewRequest("GET", base+"/v1/inbox?wait=60s", nil)
	ds.SignRequest(req, "alice-1", ident.SigningKey, nil)
	sig := req.Header.Get(ds.HeaderSignature)
	polled := make(chan int)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			polled <- 0
			return
		}
		resp.Body.Close()
		polled <- resp.StatusCode
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(metrics(t, base), "mlsd_open_long_polls 1") {
		if time.Now().After(deadline) {
			t.Fatal("long poll not open")
		}
		time.Sleep(20 * time.Millisecond)
	}
	began := time.Now()
	done := make(chan error)
	go func() { done <- stop() }()
	if st := <-polled; st != 200 {
		t.Fatalf("long poll on shutdown: %d", st)
	}
	if err := <-done; err != nil {
		t.Fatalf("stop: %v", err)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Fatalf("shutdown with a waiting long poll took %v", d)
	}

	out := logs.String()
	if strings.Contains(out, sig) || strings.Contains(out, "signature_key") {
		t.Fatal("the log holds a signature or a request body")
	}
	var inbox map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q is not JSON", sc.Text())
		}
		if line["msg"] == "request" && line["route"] == "GET /v1/inbox" {
			inbox = line
		}
	}
	if inbox == nil || inbox["status"] != 200.0 || inbox["client"] != "alice-1" || inbox["method"] != "GET" {
		t.Fatalf("inbox request log line = %v\nlog:\n%s", inbox, out)
	}
	if d, ok := inbox["duration"].(float64); !ok || d <= 0 {
		t.Fatalf("inbox request duration = %v", inbox["duration"])
	}
}

func metrics(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestMetricsListen moves /metrics to its own address.
func TestMetricsListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	maddr := ln.Addr().String()
	ln.Close()
	addr, _, _ := start(t, "--metrics-listen", maddr)
	if resp, err := http.Get("http://" + addr + "/metrics"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("metrics on the main address: %v", err)
	}
	if m := metrics(t, "http://"+maddr); !strings.Contains(m, "# TYPE mlsd_http_requests_total counter") ||
		!strings.Contains(m, `mlsd_http_requests_total{route="GET /metrics",code="404"} 1`) {
		t.Fatalf("metrics listener:\n%s", m)
	}
}

// TestFlags checks bad command lines are errors, not a server.
func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--tls-cert", "x.pem"},
		{"--log-format", "xml"},
		{"--max-body", "0"},
		{"--nope"},
		{"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	c, err := parseFlags(nil, io.Discard)
	if err != nil || c.listen != "127.0.0.1:7420" || c.dsn != "mlsd.db" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = parseFlags([]string{"--rate-client", "5", "--burst-client", "7", "--rate-ip", "0", "--max-streams", "2", "--inbox-retention", "720h",
		"--rate-claim", "0.5", "--burst-claim", "3", "--max-group-size", "10", "--quota-group", "100", "--quota-client", "50", "--quota-inbox", "20", "--group-log-retention", "1000"}, io.Discard)
	if err != nil || c.limits != (ds.Limits{ClientRate: 5, ClientBurst: 7, IPRate: 0, IPBurst: 200, MaxStreams: 2, ClaimRate: 0.5, ClaimBurst: 3}) || c.gc.GC.InboxRetention != 720*time.Hour ||
		c.quota != (ds.Quota{MaxMembers: 10, MaxGroupBytes: 100, MaxClientBytes: 50, MaxInboxBytes: 20}) || c.gc.GC.GroupLogBytes != 1000 {
		t.Fatalf("limit flags: %+v %v", c, err)
	}
	if _, err := parseFlags([]string{"--quota-group", "-1"}, io.Discard); err == nil {
		t.Error("a negative quota accepted")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.pem"), []byte("not PEM"), 0o600)
	err = run(context.Background(), []string{"--store", filepath.Join(dir, "db"), "--tls-cert", filepath.Join(dir, "bad.pem"), "--tls-key", filepath.Join(dir, "bad.pem")}, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "TLS certificate") {
		t.Fatalf("bad certificate: %v", err)
	}
}
