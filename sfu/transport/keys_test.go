package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/srtp/v3"
)

// A real DTLS handshake on loopback: the keys keyCapture rebuilds on the server side from the
// key log and the ServerHello must be the ones the client's own exporter yields.
func TestKeyCaptureMatchesTheDTLSExporter(t *testing.T) {
	cases := []struct {
		name    string
		suite   dtls.CipherSuiteID
		profile dtls.SRTPProtectionProfile
		ems     dtls.ExtendedMasterSecretType
	}{
		{"aes-128-gcm suite, aead-aes-128-gcm", dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			dtls.SRTP_AEAD_AES_128_GCM, dtls.RequireExtendedMasterSecret},
		{"sha-384 suite, aead-aes-256-gcm", dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			dtls.SRTP_AEAD_AES_256_GCM, dtls.RequireExtendedMasterSecret},
		{"no extended master secret, aes-cm-hmac-sha1-80", dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			dtls.SRTP_AES128_CM_HMAC_SHA1_80, dtls.DisableExtendedMasterSecret},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan srtpKeys, 1)
			capture := &keyCapture{ready: func(k srtpKeys) { got <- k }}
			server, client := dtlsHandshake(t, func(c *dtls.Config) {
				c.CipherSuites = []dtls.CipherSuiteID{tc.suite}
				c.SRTPProtectionProfiles = []dtls.SRTPProtectionProfile{tc.profile}
				c.ExtendedMasterSecret = tc.ems
				c.KeyLogWriter = capture
				c.ServerHelloMessageHook = capture.serverHello
			}, func(c *dtls.Config) {
				c.SRTPProtectionProfiles = []dtls.SRTPProtectionProfile{
					dtls.SRTP_AEAD_AES_256_GCM, dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80,
				}
				c.ExtendedMasterSecret = tc.ems
			})
			defer server.Close()
			defer client.Close()

			var keys srtpKeys
			select {
			case keys = <-got:
			case <-time.After(5 * time.Second):
				t.Fatal("no keys after the handshake")
			}
			state, ok := client.ConnectionState()
			if !ok {
				t.Fatal("client has no connection state")
			}
			want := srtp.Config{Profile: srtpProfiles[tc.profile]}
			if err := want.ExtractSessionKeysFromDTLS(&state, true); err != nil {
				t.Fatalf("client exporter: %v", err)
			}
			if keys.profile != want.Profile {
				t.Fatalf("profile %v, want %v", keys.profile, want.Profile)
			}
			// The client's local keys protect what the server receives, and the other way round.
			if !bytes.Equal(keys.keys.RemoteMasterKey, want.Keys.LocalMasterKey) ||
				!bytes.Equal(keys.keys.RemoteMasterSalt, want.Keys.LocalMasterSalt) ||
				!bytes.Equal(keys.keys.LocalMasterKey, want.Keys.RemoteMasterKey) ||
				!bytes.Equal(keys.keys.LocalMasterSalt, want.Keys.RemoteMasterSalt) {
				t.Fatalf("captured keys differ from the client's exporter")
			}
		})
	}
}

func TestKeyCaptureIgnoresOtherKeyLogLines(t *testing.T) {
	called := false
	k := &keyCapture{ready: func(srtpKeys) { called = true }}
	for _, line := range []string{
		"", "garbage\n", "CLIENT_RANDOM zz 00\n", "SERVER_HANDSHAKE_TRAFFIC_SECRET 00 11\n",
		"CLIENT_RANDOM 00 11\n", // no ServerHello seen: nothing to derive from
	} {
		if n, err := k.Write([]byte(line)); n != len(line) || err != nil {
			t.Fatalf("Write(%q) = %d, %v; want %d, nil", line, n, err, len(line))
		}
	}
	if called {
		t.Fatal("keys derived from an incomplete handshake")
	}
}

// dtlsHandshake runs a DTLS handshake between a server and a client on loopback UDP, with each
// side's config adjusted by the given functions.
func dtlsHandshake(t *testing.T, server, client func(*dtls.Config)) (*dtls.Conn, *dtls.Conn) {
	t.Helper()
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	sconn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	cconn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	sconf := &dtls.Config{Certificates: []tls.Certificate{cert}}
	server(sconf)
	cconf := &dtls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true}
	client(cconf)

	s, err := dtls.Server(sconn, cconn.LocalAddr(), sconf)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dtls.Client(cconn, sconn.LocalAddr(), cconf)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, 1)
	go func() { errs <- s.HandshakeContext(ctx) }()
	if err := c.HandshakeContext(ctx); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	return s, c
}
