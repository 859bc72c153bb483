package turn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os/exec"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v5"
)

const testSecret = "tandem-test-secret"

// testLogger writes the server's logs into the test log, so a failing test
// shows them.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// newTestServer starts a TURN server on 127.0.0.1 with a fixed secret and
// closes it when the test ends. cfg fields left zero get test defaults.
func newTestServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Secret == "" {
		cfg.Secret = testSecret
	}
	if cfg.MediaPorts == nil {
		cfg.MediaPorts = anyPort
	}
	s, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// validCredentials returns credentials for user valid for an hour, with user
// live in s's ledger, as if a session had been handed them.
func validCredentials(s *Server, user string) (string, string) {
	s.ledger.issue(user)
	return Credentials(testSecret, user, time.Now().Add(time.Hour))
}

// anyPort lets a test server relay to every port of its peers: tests that are
// not about the port policy use echo peers on ephemeral ports.
var anyPort = []PortRange{{Min: 1, Max: 65535}}

// dialTURN connects a pion TURN client to s over transport ("udp", "tcp"
// or "tls"); everything is closed when the test ends.
func dialTURN(t testing.TB, s *Server, transport, username, password string) *pionturn.Client {
	t.Helper()
	var conn net.PacketConn
	var server string
	switch transport {
	case "udp":
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen client UDP: %v", err)
		}
		conn, server = pc, s.udpAddr.String()
	case "tcp":
		c, err := net.Dial("tcp4", s.tcpAddr.String())
		if err != nil {
			t.Fatalf("dial TURN TCP: %v", err)
		}
		conn, server = pionturn.NewSTUNConn(c), s.tcpAddr.String()
	case "tls":
		c, err := tls.Dial("tcp4", s.tlsAddr.String(), clientTLSConfig(t, s))
		if err != nil {
			t.Fatalf("dial TURN TLS: %v", err)
		}
		conn, server = pionturn.NewSTUNConn(c), s.tlsAddr.String()
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	return newTURNClient(t, conn, server, username, password)
}

// dialTURNOver runs a pion TURN client over an existing TCP or TLS
// connection to server.
func dialTURNOver(t testing.TB, conn net.Conn, server, username, password string) *pionturn.Client {
	t.Helper()
	return newTURNClient(t, pionturn.NewSTUNConn(conn), server, username, password)
}

// newTURNClient starts a pion TURN client on conn; client and conn are
// closed when the test ends.
func newTURNClient(t testing.TB, conn net.PacketConn, server, username, password string) *pionturn.Client {
	t.Helper()
	client, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: server,
		TURNServerAddr: server,
		Conn:           conn,
		Username:       username,
		Password:       password,
		Realm:          DefaultRealm,
	})
	if err != nil {
		_ = conn.Close()
		t.Fatalf("new TURN client: %v", err)
	}
	if err := client.Listen(); err != nil {
		client.Close()
		_ = conn.Close()
		t.Fatalf("TURN client listen: %v", err)
	}
	t.Cleanup(func() {
		client.Close()
		_ = conn.Close()
	})
	return client
}

// testTLSConfig returns a server TLS config with a fresh self-signed
// certificate for 127.0.0.1.
func testTLSConfig(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tandem test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
}

// clientTLSConfig trusts the certificate the server s was started with.
func clientTLSConfig(t testing.TB, s *Server) *tls.Config {
	t.Helper()
	cert, err := x509.ParseCertificate(s.cfg.TLSConfig.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatalf("parse server certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// echoPeer is a UDP peer on addr that sends every datagram back.
func echoPeer(t testing.TB, addr string) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatalf("listen peer: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if _, err := pc.WriteTo(buf[:n], from); err != nil && !errors.Is(err, net.ErrClosed) {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = pc.Close()
		<-done
	})
	return pc
}

// roundTrip sends msg through relay to peer and waits (with a deadline) for
// the echo to come back through the relay.
func roundTrip(t testing.TB, relay net.PacketConn, peer net.Addr, msg []byte) error {
	t.Helper()
	if err := relay.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	// The first packets may race the permission; resend until the echo arrives.
	for attempt := 0; attempt < 50; attempt++ {
		if _, err := relay.WriteTo(msg, peer); err != nil {
			return err
		}
		if err := relay.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
			return err
		}
		n, from, err := relay.ReadFrom(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		if err != nil {
			return err
		}
		if string(buf[:n]) != string(msg) || from.String() != peer.String() {
			return errors.New("echo mismatch: got " + string(buf[:n]) + " from " + from.String())
		}
		return nil
	}
	return io.ErrNoProgress
}

// skipUnlessBinary skips the test when a tool coturn ships is not installed.
func skipUnlessBinary(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			t.Skipf("%s not installed (Debian package coturn; CI installs it): %v", name, err)
		}
	}
}
