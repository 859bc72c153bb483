package turn

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemchat/tandem/internal/testlog"
)

func TestPionClientRelaysOverEveryTransport(t *testing.T) {
	for _, transport := range []string{"udp", "tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			s := newTestServer(t, Config{
				AllowLoopback: true,
				TLSAddr:       "127.0.0.1:0",
				TLSConfig:     testTLSConfig(t),
			})
			user, pass := validCredentials(s, "alice")
			client := dialTURN(t, s, transport, user, pass)
			relay, err := client.Allocate()
			if err != nil {
				t.Fatalf("allocate over %s: %v", transport, err)
			}
			if got := s.Stats().Allocations; got != 1 {
				t.Errorf("Stats().Allocations with one allocation = %d, want 1", got)
			}
			relayIP := relay.LocalAddr().(*net.UDPAddr).IP
			if !relayIP.Equal(net.IPv4(127, 0, 0, 1)) {
				t.Errorf("relay address %v, want the listen IP 127.0.0.1", relay.LocalAddr())
			}

			peer := echoPeer(t, "127.0.0.1:0")
			msg := []byte("hello through " + transport)
			if err := roundTrip(t, relay, peer.LocalAddr(), msg); err != nil {
				t.Fatalf("round trip through relay: %v", err)
			}
			// The relay counts a write once it returns, which may be just
			// after the echo has come back.
			waitFor(t, "RelayedBytes to count both directions", 10*time.Second, func() bool {
				return s.Stats().RelayedBytes >= uint64(2*len(msg))
			})

			if err := relay.Close(); err != nil {
				t.Fatalf("close relay: %v", err)
			}
			waitFor(t, "allocation count back to 0", 10*time.Second, func() bool {
				return s.Stats().Allocations == 0
			})
		})
	}
}

func TestRelayPortRangeAndPublicIP(t *testing.T) {
	port := freeUDPPort(t)
	s := newTestServer(t, Config{
		AllowLoopback: true,
		PublicIP:      "203.0.113.7",
		RelayPortMin:  uint16(port),
		RelayPortMax:  uint16(port),
	})
	user, pass := validCredentials(s, "alice")
	relay, err := dialTURN(t, s, "udp", user, pass).Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	defer relay.Close()
	got := relay.LocalAddr().(*net.UDPAddr)
	if !got.IP.Equal(net.ParseIP("203.0.113.7")) || got.Port != port {
		t.Errorf("relay address %v, want 203.0.113.7:%d (public IP, only port of the range)", got, port)
	}
}

func TestStartupLogNamesTheRelayPorts(t *testing.T) {
	port := freeUDPPort(t)
	for _, tc := range []struct {
		min, max uint16
		want     string
	}{
		{0, 0, `relayPorts="any free port"`},
		{uint16(port), uint16(port), fmt.Sprintf("relayPorts=%d-%d ", port, port)},
	} {
		log, logs := testlog.NewLogger(t, "turn log", slog.LevelInfo)
		s, err := New(Config{Addr: "127.0.0.1:0", Secret: testSecret, MediaPorts: anyPort,
			RelayPortMin: tc.min, RelayPortMax: tc.max}, log)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if line := logs.String(); !strings.Contains(line, "embedded TURN server listening") || !strings.Contains(line, tc.want) {
			t.Errorf("relay ports %d-%d: start-up log lacks %s:\n%s", tc.min, tc.max, tc.want, line)
		}
	}
}

func TestCredentialsRefused(t *testing.T) {
	s := newTestServer(t, Config{AllowLoopback: true})
	aliceUser, alicePass := validCredentials(s, "alice")
	bobUser, _ := validCredentials(s, "bob")
	expiredUser, expiredPass := Credentials(testSecret, "alice", time.Now().Add(-time.Minute))
	otherSecretUser, otherSecretPass := Credentials("not-the-secret", "alice", time.Now().Add(time.Hour))

	cases := []struct {
		name, user, pass string
	}{
		{"wrong password", aliceUser, alicePass + "x"},
		{"someone else's password", bobUser, alicePass},
		{"expired", expiredUser, expiredPass},
		{"other secret", otherSecretUser, otherSecretPass},
		{"no expiry", "alice", alicePass},
		{"no user id", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + ":", alicePass},
	}
	for _, tc := range cases {
		for _, transport := range []string{"udp", "tcp"} {
			t.Run(tc.name+"/"+transport, func(t *testing.T) {
				relay, err := dialTURN(t, s, transport, tc.user, tc.pass).Allocate()
				if err == nil {
					_ = relay.Close()
					t.Fatalf("allocation with %s credentials succeeded, want refused", tc.name)
				}
			})
		}
	}
	// The control: the same server accepts good credentials.
	relay, err := dialTURN(t, s, "udp", aliceUser, alicePass).Allocate()
	if err != nil {
		t.Fatalf("allocation with valid credentials: %v", err)
	}
	_ = relay.Close()
}

func TestRelayToRefusedAddressFails(t *testing.T) {
	// Loopback is not allowed here; 127.0.0.2 stands in for tandem's own
	// media address, allowed explicitly.
	s := newTestServer(t, Config{AllowedPeers: []net.IP{net.IPv4(127, 0, 0, 2)}})
	user, pass := validCredentials(s, "mallory")
	client := dialTURN(t, s, "udp", user, pass)
	relay, err := client.Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	defer relay.Close()

	refused := echoPeer(t, "127.0.0.1:0")
	if err := client.CreatePermission(refused.LocalAddr()); err == nil {
		t.Errorf("CreatePermission for loopback peer %v succeeded, want refused", refused.LocalAddr())
	}
	for _, ip := range []string{"10.1.2.3", "192.168.1.1", "169.254.169.254", "0.0.0.0", "224.0.0.1", "::1", "fe80::1"} {
		addr := &net.UDPAddr{IP: net.ParseIP(ip), Port: 9}
		if err := client.CreatePermission(addr); err == nil {
			t.Errorf("CreatePermission for %v succeeded, want refused", addr)
		}
	}
	if err := roundTrip(t, relay, refused.LocalAddr(), []byte("should not pass")); err == nil {
		t.Errorf("relayed to refused loopback peer %v", refused.LocalAddr())
	}

	allowed := echoPeer(t, "127.0.0.2:0")
	if err := roundTrip(t, relay, allowed.LocalAddr(), []byte("own media address")); err != nil {
		t.Errorf("relay to allowed peer %v: %v", allowed.LocalAddr(), err)
	}
}

func TestAllocationQuotaPerUser(t *testing.T) {
	s := newTestServer(t, Config{AllowLoopback: true, MaxAllocationsPerUser: 2})
	user, pass := validCredentials(s, "greedy")
	// A second credential of the same user (other expiry) shares the quota.
	user2, pass2 := Credentials(testSecret, "greedy", time.Now().Add(2*time.Hour))

	first, err := dialTURN(t, s, "udp", user, pass).Allocate()
	if err != nil {
		t.Fatalf("first allocation: %v", err)
	}
	second, err := dialTURN(t, s, "tcp", user2, pass2).Allocate()
	if err != nil {
		t.Fatalf("second allocation: %v", err)
	}
	defer second.Close()
	if third, err := dialTURN(t, s, "udp", user, pass).Allocate(); err == nil {
		_ = third.Close()
		t.Fatalf("third allocation for a user with quota 2 succeeded, want refused")
	}
	otherUser, otherPass := validCredentials(s, "modest")
	other, err := dialTURN(t, s, "udp", otherUser, otherPass).Allocate()
	if err != nil {
		t.Fatalf("another user's allocation: %v", err)
	}
	defer other.Close()

	if err := first.Close(); err != nil {
		t.Fatalf("close first allocation: %v", err)
	}
	waitFor(t, "quota slot freed", 10*time.Second, func() bool { return s.Stats().Allocations == 2 })
	again, err := dialTURN(t, s, "udp", user, pass).Allocate()
	if err != nil {
		t.Fatalf("allocation after freeing a slot: %v", err)
	}
	_ = again.Close()
}

func TestCloseEndsTCPSessionsAndAllocations(t *testing.T) {
	s, err := New(Config{Addr: "127.0.0.1:0", Secret: testSecret, AllowLoopback: true, MediaPorts: anyPort}, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	user, pass := validCredentials(s, "alice")
	conn, err := net.Dial("tcp4", s.tcpAddr.String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	client := dialTURNOver(t, conn, s.tcpAddr.String(), user, pass)
	tcpRelay, err := client.Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	defer tcpRelay.Close()
	udpUser, udpPass := validCredentials(s, "bob")
	udpRelay, err := dialTURN(t, s, "udp", udpUser, udpPass).Allocate()
	if err != nil {
		t.Fatalf("allocate over UDP: %v", err)
	}
	defer udpRelay.Close()
	if got := s.Stats().Allocations; got != 2 {
		t.Fatalf("allocations before Close = %d, want 2", got)
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := s.Stats().Allocations; got != 0 {
		t.Errorf("allocations after Close = %d, want 0", got)
	}
	// The server must have closed the client's TCP session.
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	for {
		_, err := conn.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("TCP session still open 10 s after Close")
		}
		if err != nil {
			break
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestStartupFailureClosesWhatItOpened(t *testing.T) {
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := freeUDPPort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	_, err = New(Config{Addr: addr, TLSAddr: busy.Addr().String(), TLSConfig: testTLSConfig(t), MediaPorts: anyPort}, testLogger(t))
	if err == nil {
		t.Fatalf("New with a TLS port already in use succeeded")
	}
	// UDP and TCP on addr were opened before the TLS listen failed; both
	// must be free again.
	udp, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatalf("UDP %s still held after failed New: %v", addr, err)
	}
	_ = udp.Close()
	tcp, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatalf("TCP %s still held after failed New: %v", addr, err)
	}
	_ = tcp.Close()
}

func TestConfigValidation(t *testing.T) {
	cases := map[string]Config{
		"half port range":  {Addr: "127.0.0.1:0", RelayPortMin: 50000},
		"inverted range":   {Addr: "127.0.0.1:0", RelayPortMin: 50010, RelayPortMax: 50000},
		"bad public IP":    {Addr: "127.0.0.1:0", PublicIP: "turn.example"},
		"TLS without cert": {Addr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0"},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			if s, err := New(cfg, nil); err == nil {
				_ = s.Close()
				t.Fatalf("New accepted %+v", cfg)
			}
		})
	}
}

// freeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago
// and whose TCP twin is free too.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = pc.Close()
		if err == nil {
			_ = ln.Close()
			return port
		}
	}
	t.Fatal("no free UDP+TCP port pair found")
	return 0
}

func TestSecondServerOnTheSamePortFails(t *testing.T) {
	first := newTestServer(t, Config{})
	// SO_REUSEPORT on the first server's sockets must not let a second
	// server quietly share its port.
	second, err := New(Config{Addr: first.udpAddr.String(), Secret: testSecret, MediaPorts: anyPort}, testLogger(t))
	if err == nil {
		_ = second.Close()
		t.Fatalf("a second server on %s started", first.udpAddr)
	}
}
