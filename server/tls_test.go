package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/testlog"
)

// verifyNoLeaks checks, after every other cleanup of the test (servers
// closed), that no goroutine is left behind but the one every in-process
// Pebble leaves (see pebbleLeak): ACME tests run first in this package.
func verifyNoLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t, pebbleLeak) })
}

// fileCertConfig writes a certificate for names signed by ca into a temporary
// directory and returns a loopback configuration serving HTTPS with it.
func fileCertConfig(t *testing.T, ca *testCA, names ...string) config.Config {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM := ca.issue(t, names...)
	cfg := loopbackConfig()
	cfg.HTTP.TLSCert = writeFile(t, dir, "cert.pem", certPEM)
	cfg.HTTP.TLSKey = writeFile(t, dir, "key.pem", keyPEM)
	return cfg
}

func TestHTTPSFromCertificateFilesCarriesSignaling(t *testing.T) {
	verifyNoLeaks(t)
	ca := newTestCA(t)
	cfg := fileCertConfig(t, ca, "tandem.test")
	log, _ := testlog.NewLogger(t, "server log", slog.LevelDebug)
	srv := startServer(t, cfg, log)

	client := httpsClient(t, srv.Addr(), ca.pool())
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	base := "https://" + net.JoinHostPort("tandem.test", port)
	if srv.URL() != base {
		t.Errorf("URL() = %q, want %q (the certificate's name)", srv.URL(), base)
	}
	for _, path := range []string{"/", "/healthz", "/api/stats"} {
		resp := get(t, client, base+path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", path, resp.StatusCode)
		}
		if got := resp.Header.Get("Strict-Transport-Security"); got != hstsValue {
			t.Errorf("GET %s: Strict-Transport-Security %q, want %q", path, got, hstsValue)
		}
		if got := resp.Header.Values("X-Content-Type-Options"); len(got) != 1 || got[0] != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q, want one nosniff", path, got)
		}
	}
	if csp := get(t, client, base+"/").Header.Get("Content-Security-Policy"); csp == "" {
		t.Error("the page has no Content-Security-Policy")
	}

	signalingFlow(t, srv.Addr(), "tandem.test", ca.pool())

	// A client that does not trust the CA is refused: the server really
	// presents the certificate rather than anything the system trusts.
	untrusting := httpsClient(t, srv.Addr(), x509.NewCertPool())
	if resp, err := untrusting.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("a client without the test CA completed the TLS handshake")
	}
	// Plain HTTP to the HTTPS port gets Go's "HTTP request to an HTTPS server" 400.
	plain := &http.Client{Timeout: time.Minute}
	resp, err := plain.Get("http://" + srv.Addr().String() + "/healthz")
	if err != nil {
		t.Fatalf("plain HTTP to the HTTPS port: %v", err)
	}
	resp.Body.Close()
	plain.CloseIdleConnections()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain HTTP to the HTTPS port: status %d, want 400", resp.StatusCode)
	}
}

func TestReplacedCertificateFilesAreServedWithoutRestart(t *testing.T) {
	verifyNoLeaks(t)
	ca := newTestCA(t)
	cfg := fileCertConfig(t, ca, "tandem.test")
	cfg.TURN.Addr = "127.0.0.1:0"
	cfg.TURN.TLSAddr = "127.0.0.1:0"
	log, logs := testlog.NewLogger(t, "server log", slog.LevelDebug)
	srv := startServer(t, cfg, log)
	turnTLS := turnTLSAddr(t, srv)

	first := peerCertificate(t, srv.Addr(), "tandem.test", ca.pool())
	if got := peerCertificate(t, turnTLS, "tandem.test", ca.pool()); !got.Equal(first) {
		t.Fatalf("TURN over TLS serves serial %s, HTTPS %s: want the same certificate", got.SerialNumber, first.SerialNumber)
	}
	stunBindingOverTLS(t, turnTLS, "tandem.test", ca.pool())

	// A renewal arrives in two steps: the certificate first, then its key.
	// In between the pair does not match; the old one stays in service.
	certPEM, keyPEM := ca.issue(t, "tandem.test", "www.tandem.test")
	replaceFile(t, cfg.HTTP.TLSCert, certPEM)
	if got := peerCertificate(t, srv.Addr(), "tandem.test", ca.pool()); !got.Equal(first) {
		t.Fatalf("with a new certificate but the old key, serial %s is served; want the old %s", got.SerialNumber, first.SerialNumber)
	}
	if !logs.Contains("do not load") {
		t.Error("a pair that does not load was not logged")
	}
	replaceFile(t, cfg.HTTP.TLSKey, keyPEM)
	renewed := peerCertificate(t, srv.Addr(), "tandem.test", ca.pool())
	if renewed.Equal(first) || !slices.Contains(renewed.DNSNames, "www.tandem.test") {
		t.Fatalf("after replacing both files HTTPS serves %v (serial %s), want the new certificate", renewed.DNSNames, renewed.SerialNumber)
	}
	if got := peerCertificate(t, turnTLS, "tandem.test", ca.pool()); !got.Equal(renewed) {
		t.Errorf("TURN over TLS still serves serial %s after the renewal, want %s", got.SerialNumber, renewed.SerialNumber)
	}
}

func TestUnreadableCertificateStopsStartup(t *testing.T) {
	verifyNoLeaks(t)
	ca := newTestCA(t)
	cfg := fileCertConfig(t, ca, "tandem.test")
	otherCert, _ := ca.issue(t, "tandem.test")
	replaceFile(t, cfg.HTTP.TLSCert, otherCert) // no longer matches the key
	log, _ := testlog.NewLogger(t, "server log", slog.LevelDebug)
	srv, err := Start(context.Background(), cfg, log)
	if err == nil {
		srv.Close()
		t.Fatal("Start succeeded with a certificate that does not match its key")
	}
	if !strings.Contains(err.Error(), "https") {
		t.Errorf("error %q does not say what failed", err)
	}
}

func TestPlainHTTPOnLoopbackHasNoWarningAndNoHSTS(t *testing.T) {
	verifyNoLeaks(t)
	log, logs := testlog.NewLogger(t, "server log", slog.LevelDebug)
	srv := startServer(t, loopbackConfig(), log)
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") {
		t.Errorf("URL() = %q", srv.URL())
	}
	if logs.Contains("level=WARN") {
		t.Errorf("plain HTTP on loopback logged a warning:\n%s", logs)
	}
	plain := &http.Client{Timeout: time.Minute}
	defer plain.CloseIdleConnections()
	resp := get(t, plain, srv.URL()+"/healthz")
	if resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("plain HTTP sent Strict-Transport-Security")
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("plain HTTP API answer lacks X-Content-Type-Options: nosniff")
	}
	if srv.RedirectAddr() != nil {
		t.Error("a redirect listener runs without automatic certificates")
	}
}

func TestPlainHTTPOnAReachableAddressWarnsAboutTheCamera(t *testing.T) {
	for _, tc := range []struct {
		addr string
		warn bool
	}{
		{"0.0.0.0:3000", true},
		{"[::]:3000", true},
		{"192.0.2.10:3000", true},
		{"127.0.0.1:3000", false},
		{"127.0.0.2:3000", false},
		{"[::1]:3000", false},
	} {
		var buf bytes.Buffer
		warnIfPlainHTTP(slog.New(slog.NewTextHandler(&buf, nil)), net.TCPAddrFromAddrPort(mustAddrPort(t, tc.addr)))
		out := buf.String()
		warned := strings.Contains(out, "level=WARN") && strings.Contains(out, "camera")
		if warned != tc.warn {
			t.Errorf("%s: warned %v, want %v; log %q", tc.addr, warned, tc.warn, out)
		}
		if !tc.warn {
			continue
		}
		// The warning says what to do in each case, with the listener's port.
		for _, fix := range []string{"http://localhost:3000", "TANDEM_ACME_DOMAINS", "TANDEM_TLS_CERT",
			"reverse proxy", "docs/https.md", "TANDEM_HTTP_ADDR=127.0.0.1:3000"} {
			if !strings.Contains(out, fix) {
				t.Errorf("%s: the warning does not mention %q; log %q", tc.addr, fix, out)
			}
		}
	}
}

func TestConfigRefusesACMEDomainsWithoutCertificates(t *testing.T) {
	for _, d := range []string{"203.0.113.7", "localhost", "*.example.org", "example.org:443", "https://example.org"} {
		cfg := loopbackConfig()
		cfg.HTTP.ACMEDomains = []string{"chat.example.org", d}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "acme_domains") {
			t.Errorf("acme_domains %q: Validate() = %v, want an acme_domains error", d, err)
		}
	}
	cfg := loopbackConfig()
	cfg.HTTP.ACMEDomains = []string{"chat.example.org", "tandem.test."}
	if err := cfg.Validate(); err != nil {
		t.Errorf("acme_domains of two names: %v", err)
	}
}

// turnTLSAddr finds the TURN-over-TLS port in the ICE servers handed to clients.
func turnTLSAddr(t *testing.T, srv *Server) net.Addr {
	t.Helper()
	for _, s := range srv.TURN().ICEServers("probe", "tandem.test") {
		for _, u := range s.URLs {
			if rest, ok := strings.CutPrefix(u, "turns:"); ok {
				hostport, _, _ := strings.Cut(rest, "?")
				_, port, err := net.SplitHostPort(hostport)
				if err != nil {
					t.Fatalf("turns URL %q: %v", u, err)
				}
				addr, err := net.ResolveTCPAddr("tcp", net.JoinHostPort("127.0.0.1", port))
				if err != nil {
					t.Fatal(err)
				}
				return addr
			}
		}
	}
	t.Fatal("no turns: URL in the ICE servers")
	return nil
}

// stunBindingOverTLS sends a STUN Binding request (RFC 8489) over TLS and
// checks that a Binding success response with the same transaction comes
// back: the TURN server answers behind the certificate.
func stunBindingOverTLS(t *testing.T, addr net.Addr, serverName string, roots *x509.CertPool) {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addr.String(),
		&tls.Config{ServerName: serverName, RootCAs: roots})
	if err != nil {
		t.Fatalf("TURN TLS dial: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	req := make([]byte, 20)
	binary.BigEndian.PutUint16(req[0:], 0x0001) // Binding request
	binary.BigEndian.PutUint32(req[4:], 0x2112A442)
	rand.Read(req[8:20])
	if _, err := conn.Write(req); err != nil {
		t.Fatalf("TURN TLS write: %v", err)
	}
	header := make([]byte, 20)
	if _, err := io.ReadFull(conn, header); err != nil {
		t.Fatalf("TURN TLS read: %v", err)
	}
	if typ := binary.BigEndian.Uint16(header[0:]); typ != 0x0101 {
		t.Fatalf("STUN answer type %#04x, want Binding success 0x0101", typ)
	}
	if !bytes.Equal(header[8:20], req[8:20]) {
		t.Fatal("STUN answer has another transaction ID")
	}
}

// replaceFile writes data over path and moves its modification time
// forward, as a certificate renewal would.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	later := info.ModTime().Add(time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
}

// get fetches url and reads the body, failing the test on error.
func get(t *testing.T, client *http.Client, url string) *http.Response {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}
