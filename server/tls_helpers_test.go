package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemchat/tandem/config"
)

// testCA is a certificate authority made up for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// newTestCA creates a self-signed ECDSA CA.
func newTestCA(t *testing.T) *testCA {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(t),
		Subject:               pkix.Name{CommonName: "tandem test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	key, der := newCert(t, tmpl, nil)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// pool is a trust store holding only this CA.
func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue signs a server certificate for names (DNS names and IP literals)
// and returns it and its key in PEM.
func (ca *testCA) issue(t *testing.T, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(t),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	key, der := newCert(t, tmpl, ca)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// newCert makes a P-256 key and a certificate for it from tmpl, signed by
// ca or, when ca is nil, by the new key itself; it returns the key and the
// certificate in DER.
func newCert(t *testing.T, tmpl *x509.Certificate, ca *testCA) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

// tlsPair parses a PEM pair for a server that is not tandem (the test ACME server).
func tlsPair(t *testing.T, certPEM, keyPEM []byte) tls.Certificate {
	t.Helper()
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func randomSerial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// writeFile writes data to a file named name in dir and returns its path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// loopbackConfig is a configuration whose every listener is on 127.0.0.1
// with a port the kernel picks, and without TURN.
func loopbackConfig() config.Config {
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.HTTP.ShutdownGrace = 0
	cfg.Media.ICEIPs = []string{"127.0.0.1"}
	cfg.TURN.Addr = ""
	return cfg
}

// startServer starts tandem with cfg and closes it when the test ends.
func startServer(t *testing.T, cfg config.Config, log *slog.Logger) *Server {
	t.Helper()
	cfg.Moderation.DataDir = t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := Start(ctx, cfg, log)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { closeServer(t, srv) })
	return srv
}

// closeServer closes srv and reports an error; safe to call twice.
func closeServer(t *testing.T, srv *Server) {
	t.Helper()
	if err := srv.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// dialTo returns a DialContext that connects to addr whatever host the URL
// names, so "tandem.test" reaches the server on loopback without DNS.
func dialTo(addr net.Addr) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr.String())
	}
}

// httpsClient is an HTTP client that trusts only roots, reaches every host
// at addr, and does not follow redirects. Its connections close with the test.
func httpsClient(t *testing.T, addr net.Addr, roots *x509.CertPool) *http.Client {
	t.Helper()
	tr := &http.Transport{
		DialContext:     dialTo(addr),
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// peerCertificate opens a TLS connection to addr for serverName, verified
// against roots, and returns the server's leaf certificate.
func peerCertificate(t *testing.T, addr net.Addr, serverName string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	d := tls.Dialer{
		NetDialer: &net.Dialer{Timeout: 30 * time.Second},
		Config:    &tls.Config{ServerName: serverName, RootCAs: roots},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		t.Fatalf("TLS handshake with %s as %q: %v", addr, serverName, err)
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
}

// wsClient is one signaling client of a test.
type wsClient struct {
	t    *testing.T
	name string
	conn *websocket.Conn
}

// message is a received protocol message with its data still encoded.
type message struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// dialWS opens wss://host:port/ws on the server at addr, trusting roots.
func dialWS(t *testing.T, name string, addr net.Addr, host string, roots *x509.CertPool) *wsClient {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr.String())
	d := websocket.Dialer{
		NetDialContext:   dialTo(addr),
		TLSClientConfig:  &tls.Config{RootCAs: roots},
		HandshakeTimeout: 30 * time.Second,
	}
	conn, resp, err := d.Dial("wss://"+net.JoinHostPort(host, port)+"/ws", nil)
	if err != nil {
		t.Fatalf("%s: dial wss: %v", name, err)
	}
	resp.Body.Close()
	t.Cleanup(func() { conn.Close() })
	return &wsClient{t: t, name: name, conn: conn}
}

// send writes one message.
func (c *wsClient) send(typ string, data any) {
	c.t.Helper()
	msg := map[string]any{"type": typ}
	if data != nil {
		msg["data"] = data
	}
	if err := c.conn.WriteJSON(msg); err != nil {
		c.t.Fatalf("%s: send %s: %v", c.name, typ, err)
	}
}

// expect reads messages until one of type typ arrives (others, such as
// waiting_for_partner, are skipped) and decodes its data into out.
func (c *wsClient) expect(typ string, out any) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.conn.SetReadDeadline(deadline)
		var m message
		if err := c.conn.ReadJSON(&m); err != nil {
			c.t.Fatalf("%s: waiting for %s: %v", c.name, typ, err)
		}
		if m.Type != typ {
			continue
		}
		if out != nil {
			if err := json.Unmarshal(m.Data, out); err != nil {
				c.t.Fatalf("%s: decode %s: %v", c.name, typ, err)
			}
		}
		return
	}
}

// signalingFlow connects two clients over wss:// to the server at addr as
// host, trusting roots, and runs welcome, find_partner, partner_found and a
// chat message from one to the other.
func signalingFlow(t *testing.T, addr net.Addr, host string, roots *x509.CertPool) {
	t.Helper()
	type welcome struct {
		UserID   string `json:"userId"`
		Protocol int    `json:"protocol"`
	}
	type found struct {
		RoomID string `json:"roomId"`
	}
	type chat struct {
		Text string `json:"text"`
	}
	alice := dialWS(t, "alice", addr, host, roots)
	bob := dialWS(t, "bob", addr, host, roots)
	var wa, wb welcome
	alice.expect("welcome", &wa)
	bob.expect("welcome", &wb)
	if wa.UserID == "" || wb.UserID == "" || wa.UserID == wb.UserID || wa.Protocol != 1 {
		t.Fatalf("welcome: alice %+v, bob %+v", wa, wb)
	}
	alice.send("find_partner", nil)
	bob.send("find_partner", nil)
	var fa, fb found
	alice.expect("partner_found", &fa)
	bob.expect("partner_found", &fb)
	if fa.RoomID == "" || fa.RoomID != fb.RoomID {
		t.Fatalf("partner_found: alice room %q, bob room %q", fa.RoomID, fb.RoomID)
	}
	const text = "hello over wss"
	alice.send("chat_message", map[string]string{"text": text})
	var got chat
	bob.expect("chat_message", &got)
	if got.Text != text {
		t.Fatalf("bob got chat %q, want %q", got.Text, text)
	}
}
