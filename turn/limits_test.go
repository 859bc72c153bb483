package turn

import (
	"net"
	"testing"
	"time"
)

// The attacks of a hostile TURN client, each tried against a server whose media address is
// 127.0.0.1 (as with TANDEM_ICE_IPS=127.0.0.1) and whose only media port is the echo peer's.

func TestRelayReachesOnlyTheMediaPorts(t *testing.T) {
	media := echoPeer(t, "127.0.0.1:0")
	service, err := net.ListenPacket("udp4", "127.0.0.1:0") // e.g. another daemon on this host
	if err != nil {
		t.Fatal(err)
	}
	defer service.Close()
	mediaPort := uint16(media.LocalAddr().(*net.UDPAddr).Port)
	s := newTestServer(t, Config{AllowedPeers: []net.IP{net.IPv4(127, 0, 0, 1)},
		MediaPorts: []PortRange{{Min: mediaPort, Max: mediaPort}}})
	user, pass := validCredentials(s, "mallory")
	client := dialTURN(t, s, "udp", user, pass)
	relay, err := client.Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	defer relay.Close()

	// A port of a media address that is not a media port: the permission (per IP) is
	// granted, but no datagram gets through.
	for range 5 {
		if _, err := relay.WriteTo([]byte("probe"), service.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the probes to be dropped", 5*time.Second, func() bool { return s.Stats().DatagramsDropped >= 5 })
	_ = service.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, from, err := service.ReadFrom(make([]byte, 100)); err == nil {
		t.Fatalf("the relay delivered %d bytes from %v to a non-media port", n, from)
	}

	// Anyone else: refused with 403 at the permission.
	before := s.Stats().PermissionsRefused
	for _, ip := range []string{"192.0.2.1", "8.8.8.8", "10.1.2.3", "127.0.0.2"} {
		if err := client.CreatePermission(&net.UDPAddr{IP: net.ParseIP(ip), Port: int(mediaPort)}); err == nil {
			t.Errorf("CreatePermission for %s succeeded, want 403", ip)
		}
	}
	if got := s.Stats().PermissionsRefused - before; got != 4 {
		t.Errorf("refused permissions counted %d, want 4", got)
	}

	// RFC 6062: no TCP allocations, so no Connect to anything.
	tcpUser, tcpPass := validCredentials(s, "mallory-tcp")
	if alloc, err := dialTURN(t, s, "tcp", tcpUser, tcpPass).AllocateTCP(); err == nil {
		_ = alloc.Close()
		t.Fatal("TCP allocation succeeded, want refused")
	}
	if s.Stats().RefusedTCP == 0 {
		t.Error("refused TCP allocation not counted")
	}

	// The media socket itself is reachable: a relayed call still works.
	if err := roundTrip(t, relay, media.LocalAddr(), []byte("media")); err != nil {
		t.Fatalf("relay to the media port: %v", err)
	}
}

func TestReleasedCredentialsStopAndTheirAllocationsClose(t *testing.T) {
	s := newTestServer(t, Config{AllowLoopback: true, CredentialGrace: 200 * time.Millisecond})
	ice := s.ICEServers("leaver", "127.0.0.1")
	user, pass := ice[0].Username, ice[0].Credential
	leaving, err := dialTURN(t, s, "udp", user, pass).Allocate()
	if err != nil {
		t.Fatalf("allocate with the session's credentials: %v", err)
	}
	defer leaving.Close() // the client side of the allocation the server closes
	stayUser, stayPass := validCredentials(s, "stayer")
	stay, err := dialTURN(t, s, "udp", stayUser, stayPass).Allocate()
	if err != nil {
		t.Fatalf("allocate for another session: %v", err)
	}
	defer stay.Close()

	s.Release("leaver") // its session ended
	waitFor(t, "the ended session's allocation to close", 5*time.Second, func() bool {
		return s.Stats().Allocations == 1
	})
	if relay, err := dialTURN(t, s, "udp", user, pass).Allocate(); err == nil {
		_ = relay.Close()
		t.Fatal("credentials of an ended session still allocate")
	}
	if s.Stats().RefusedCredentials == 0 {
		t.Error("refused credentials not counted")
	}
	echo := echoPeer(t, "127.0.0.1:0")
	if err := roundTrip(t, stay, echo.LocalAddr(), []byte("still here")); err != nil {
		t.Fatalf("the other session's relay: %v", err)
	}
}

func TestManySessionsFromOneIPStayWithinTheCap(t *testing.T) {
	// production.yaml's relay range holds 41 ports: a quarter of them per client IP.
	s := newTestServer(t, Config{AllowLoopback: true, RelayPortMin: 49160, RelayPortMax: 49200})
	if got := s.cfg.AllocationsPerIP; got != 10 {
		t.Fatalf("default per-IP cap for 41 relay ports = %d, want 10", got)
	}
	granted := 0
	for i := range 15 { // fifteen sessions, one allocation each, all from 127.0.0.1
		user, pass := validCredentials(s, "session-"+string(rune('a'+i)))
		relay, err := dialTURN(t, s, "udp", user, pass).Allocate()
		if err != nil {
			continue
		}
		defer relay.Close()
		granted++
	}
	if granted != 10 {
		t.Fatalf("one IP got %d allocations, want the cap of 10", granted)
	}
	if got := s.Stats().RefusedPerIP; got != 5 {
		t.Errorf("per-IP refusals counted %d, want 5", got)
	}
}
