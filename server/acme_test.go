package server

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/testlog"
)

// acmeConfig is a loopback configuration that obtains a certificate for
// tandem.test from acme, caching it in cacheDir.
func acmeConfig(acme *testACME, cacheDir string) config.Config {
	cfg := loopbackConfig()
	cfg.HTTP.ACMEDomains = []string{"tandem.test"}
	cfg.HTTP.ACMEEmail = "ops@tandem.test"
	cfg.HTTP.ACMEDirectory = acme.directory
	cfg.HTTP.ACMECAFile = acme.caFile
	cfg.HTTP.ACMECacheDir = cacheDir
	cfg.HTTP.RedirectAddr = "127.0.0.1:0"
	return cfg
}

func TestAutomaticCertificateIsObtainedCachedAndReusedAfterRestart(t *testing.T) {
	verifyNoLeaks(t)
	acme := startPebble(t)
	cacheDir := filepath.Join(t.TempDir(), "certs") // created by tandem
	cfg := acmeConfig(acme, cacheDir)
	cfg.TURN.Addr = "127.0.0.1:0"
	cfg.TURN.TLSAddr = "127.0.0.1:0"

	log, logs := testlog.NewLogger(t, "server log", slog.LevelDebug)
	srv := startServer(t, cfg, log)
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	if want := "https://tandem.test:" + port; srv.URL() != want {
		t.Errorf("URL() = %q, want %q", srv.URL(), want)
	}
	if got := acme.orders.Load(); got != 0 {
		t.Fatalf("%d orders before any visitor: want the certificate obtained on the first handshake", got)
	}

	// The first handshake obtains the certificate; the client trusts only
	// Pebble's root, so the handshake also proves the chain.
	issued := peerCertificate(t, srv.Addr(), "tandem.test", acme.roots)
	if !slices.Contains(issued.DNSNames, "tandem.test") {
		t.Fatalf("certificate names %v, want tandem.test", issued.DNSNames)
	}
	if got := acme.orders.Load(); got != 1 {
		t.Fatalf("%d orders after the first handshake, want 1", got)
	}
	if got := peerCertificate(t, turnTLSAddr(t, srv), "tandem.test", acme.roots); !got.Equal(issued) {
		t.Errorf("TURN over TLS serves serial %s, HTTPS %s: want the same certificate", got.SerialNumber, issued.SerialNumber)
	}
	if !logs.Contains("certificate obtained and cached") {
		t.Error("obtaining the certificate was not logged")
	}
	for _, name := range []string{"tandem.test", "acme_account+key"} {
		if _, err := os.Stat(filepath.Join(cacheDir, name)); err != nil {
			t.Errorf("cache: %v", err)
		}
	}
	// A handshake without a server name (a client that dialed the IP) gets
	// the domain's certificate instead of an error.
	if got := unverifiedPeerCertificate(t, srv.Addr()); !got.Equal(issued) {
		t.Errorf("without SNI the server presents serial %s, want %s", got.SerialNumber, issued.SerialNumber)
	}

	signalingFlow(t, srv.Addr(), "tandem.test", acme.roots)
	resp := get(t, httpsClient(t, srv.Addr(), acme.roots), "https://tandem.test:"+port+"/healthz")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Strict-Transport-Security") != hstsValue {
		t.Errorf("GET /healthz over HTTPS: status %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}

	// A restart with the same cache serves the same certificate, with no new order.
	closeServer(t, srv)
	restarted := startServer(t, cfg, log)
	again := peerCertificate(t, restarted.Addr(), "tandem.test", acme.roots)
	if !again.Equal(issued) {
		t.Errorf("after restart serial %s is served, want the cached %s", again.SerialNumber, issued.SerialNumber)
	}
	if got := acme.orders.Load(); got != 1 {
		t.Errorf("%d orders after the restart, want still 1", got)
	}
}

func TestRedirectListenerSendsBrowsersToHTTPSAndAnswersChallenges(t *testing.T) {
	verifyNoLeaks(t)
	acme := startPebble(t)
	log, _ := testlog.NewLogger(t, "server log", slog.LevelDebug)
	srv := startServer(t, acmeConfig(acme, t.TempDir()), log)
	if srv.RedirectAddr() == nil {
		t.Fatal("no redirect listener with automatic certificates")
	}
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	client := &http.Client{
		Transport:     &http.Transport{DialContext: dialTo(srv.RedirectAddr())},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()

	for _, tc := range []struct{ host, want string }{
		{"tandem.test", "https://tandem.test:" + port + "/api/stats?x=1"},
		{"TANDEM.test:80", "https://tandem.test:" + port + "/api/stats?x=1"},
		{"203.0.113.7", "https://tandem.test:" + port + "/api/stats?x=1"}, // an IP has no certificate
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+srv.RedirectAddr().String()+"/api/stats?x=1", nil)
		req.Host = tc.host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET via redirect listener: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != tc.want {
			t.Errorf("Host %s: %d to %q, want 308 to %q", tc.host, resp.StatusCode, resp.Header.Get("Location"), tc.want)
		}
	}
	// HTTP-01 challenge paths are answered by the certificate manager, not
	// redirected: an unknown token is a 404.
	req, _ := http.NewRequest(http.MethodGet, "http://"+srv.RedirectAddr().String()+"/.well-known/acme-challenge/unknown", nil)
	req.Host = "tandem.test"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown challenge token: status %d, want 404", resp.StatusCode)
	}
	if acme.orders.Load() != 0 {
		t.Error("plain HTTP requests caused a certificate order")
	}
}

func TestNoCertificateForOtherNames(t *testing.T) {
	verifyNoLeaks(t)
	acme := startPebble(t)
	log, _ := testlog.NewLogger(t, "server log", slog.LevelDebug)
	srv := startServer(t, acmeConfig(acme, t.TempDir()), log)
	client := httpsClient(t, srv.Addr(), acme.roots)
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	if resp, err := client.Get("https://other.test:" + port + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a handshake for a name not in acme_domains succeeded")
	}
	if got := acme.orders.Load(); got != 0 {
		t.Errorf("%d orders for a name not in acme_domains, want 0", got)
	}
}

func TestCertificateIsObtainedThroughRealTLSALPNValidation(t *testing.T) {
	verifyNoLeaks(t)
	t.Setenv("PEBBLE_VA_ALWAYS_VALID", "0")
	acme := startACMEFrontEnd(t)
	resolver := startLoopbackDNS(t)
	cfg := acmeConfig(acme, t.TempDir())
	cfg.HTTP.RedirectAddr = "" // no HTTP-01: TLS-ALPN-01 is the only way
	log, _ := testlog.NewLogger(t, "server log", slog.LevelDebug)
	srv := startServer(t, cfg, log)
	// Pebble connects to tandem.test (127.0.0.1 by the test DNS) on the
	// HTTPS port and checks the acme-tls/1 answer; HTTP-01 would go nowhere.
	acme.install(t, closedPort(t), portOf(t, srv.Addr()), resolver)

	cert := peerCertificate(t, srv.Addr(), "tandem.test", acme.roots)
	if !slices.Contains(cert.DNSNames, "tandem.test") {
		t.Fatalf("certificate names %v, want tandem.test", cert.DNSNames)
	}
	if got := acme.orders.Load(); got != 1 {
		t.Errorf("%d orders, want 1", got)
	}
}

func TestCertificateIsObtainedThroughRealHTTPValidation(t *testing.T) {
	verifyNoLeaks(t)
	t.Setenv("PEBBLE_VA_ALWAYS_VALID", "0")
	acme := startACMEFrontEnd(t)
	resolver := startLoopbackDNS(t)
	log, _ := testlog.NewLogger(t, "server log", slog.LevelDebug)
	srv := startServer(t, acmeConfig(acme, t.TempDir()), log)
	// TLS-ALPN-01 is checked on a closed port and fails; tandem then orders
	// again and answers HTTP-01 on its redirect listener.
	acme.install(t, portOf(t, srv.RedirectAddr()), closedPort(t), resolver)

	cert := peerCertificate(t, srv.Addr(), "tandem.test", acme.roots)
	if !slices.Contains(cert.DNSNames, "tandem.test") {
		t.Fatalf("certificate names %v, want tandem.test", cert.DNSNames)
	}
	if got := acme.orders.Load(); got != 2 {
		t.Errorf("%d orders, want 2 (TLS-ALPN-01 failing, then HTTP-01)", got)
	}
}

func TestFailureToGetACertificateIsLoggedOncePerInterval(t *testing.T) {
	verifyNoLeaks(t)
	cfg := loopbackConfig()
	cfg.HTTP.ACMEDomains = []string{"tandem.test"}
	cfg.HTTP.ACMEDirectory = "https://127.0.0.1:" + strconv.Itoa(closedPort(t)) + "/dir" // nobody answers
	cfg.HTTP.ACMECacheDir = t.TempDir()
	cfg.HTTP.RedirectAddr = ""
	log, logs := testlog.NewLogger(t, "server log", slog.LevelDebug)
	srv := startServer(t, cfg, log)
	for range 3 {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", srv.Addr().String(),
			&tls.Config{ServerName: "tandem.test", InsecureSkipVerify: true})
		if err == nil {
			conn.Close()
			t.Fatal("a handshake succeeded without a certificate authority")
		}
	}
	if n := strings.Count(logs.String(), "no certificate for a configured domain"); n != 1 {
		t.Errorf("the failure was logged %d times for 3 handshakes, want once:\n%s", n, logs)
	}
}

// portOf is the port of a listener address.
func portOf(t *testing.T, addr net.Addr) int {
	t.Helper()
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		t.Fatalf("address %v is not TCP", addr)
	}
	return tcp.Port
}

// closedPort is a loopback TCP port nothing listens on (just closed).
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := portOf(t, ln.Addr())
	ln.Close()
	return port
}

// unverifiedPeerCertificate is the certificate the server at addr presents
// to a client that sends no server name and checks nothing.
func unverifiedPeerCertificate(t *testing.T, addr net.Addr) *x509.Certificate {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addr.String(),
		&tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS handshake without a server name: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}
