package transport

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// newTestOutbound returns an armed outbound routed to a client socket on loopback, and a
// context that decrypts as that client would.
func newTestOutbound(t testing.TB) (*outbound, *net.UDPConn, *srtp.Context) {
	o := newBareOutbound(t)
	server, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })

	socket := newMediaConn(server, server, nil)
	o.addSocket(socket)
	if _, err := o.writeRTP(&rtp.Header{Version: 2}, nil); err != nil {
		t.Fatalf("write before the keys: %v", err)
	}
	key, salt := bytes.Repeat([]byte{3}, 16), bytes.Repeat([]byte{5}, 12)
	o.setKeys(srtpKeys{profile: srtp.ProtectionProfileAeadAes128Gcm,
		keys: srtp.SessionKeys{LocalMasterKey: key, LocalMasterSalt: salt}})
	o.selectPair(&webrtc.ICECandidatePair{
		Local:  &webrtc.ICECandidate{Protocol: webrtc.ICEProtocolUDP, Address: "127.0.0.1", Port: socket.localPort()},
		Remote: &webrtc.ICECandidate{Protocol: webrtc.ICEProtocolUDP, Address: "127.0.0.1", Port: uint16(client.LocalAddr().(*net.UDPAddr).Port)},
	})
	decrypt, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	return o, client, decrypt
}

func TestOutboundSendsWhatTheClientCanDecrypt(t *testing.T) {
	o, client, decrypt := newTestOutbound(t)
	payload := []byte{0x10, 0, 0x9d, 0x01, 0x2a, 1, 2, 3}
	for seq := uint16(65534); seq != 2; seq++ { // across a wrap of the sequence number
		h := &rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: 9, SSRC: 77}
		if handled, err := o.writeRTP(h, payload); !handled || err != nil {
			t.Fatalf("writeRTP: handled %v, %v", handled, err)
		}
		if err := client.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1500)
		n, err := client.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		var got rtp.Header
		plain, err := decrypt.DecryptRTP(nil, buf[:n], &got)
		if err != nil {
			t.Fatalf("client cannot decrypt packet %d: %v", seq, err)
		}
		if got.SequenceNumber != seq || got.SSRC != 77 || !bytes.HasSuffix(plain, payload) {
			t.Fatalf("client got seq %d ssrc %d %x, want seq %d ssrc 77 ending in %x",
				got.SequenceNumber, got.SSRC, plain, seq, payload)
		}
	}
	if n := o.t.Stats().PacketsSent; n != 4 {
		t.Fatalf("fast send path counted %d packets, want 4", n)
	}

	// RTCP takes the same path, with the same context.
	pli := &rtcp.PictureLossIndication{SenderSSRC: 77, MediaSSRC: 42}
	if handled, err := o.writeRTCP([]rtcp.Packet{pli}); !handled || err != nil {
		t.Fatalf("writeRTCP: handled %v, %v", handled, err)
	}
	buf := make([]byte, 1500)
	n, err := client.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := decrypt.DecryptRTCP(nil, buf[:n], nil)
	if err != nil {
		t.Fatalf("client cannot decrypt the RTCP: %v", err)
	}
	if got, err := rtcp.Unmarshal(plain); err != nil || len(got) != 1 || *got[0].(*rtcp.PictureLossIndication) != *pli {
		t.Fatalf("client got RTCP %v (%v), want %v", got, err, pli)
	}

	// Without a route (a pair on a socket that is not the peer's) packets are dropped, never
	// handed to Pion's path, which would encrypt the same stream with a second context.
	o.selectPair(&webrtc.ICECandidatePair{
		Local:  &webrtc.ICECandidate{Protocol: webrtc.ICEProtocolTCP, Address: "127.0.0.1", Port: 9},
		Remote: &webrtc.ICECandidate{Protocol: webrtc.ICEProtocolTCP, Address: "127.0.0.1", Port: 9},
	})
	handled, err := o.writeRTP(&rtp.Header{Version: 2, SSRC: 77, SequenceNumber: 3}, payload)
	if !handled || !errors.Is(err, errNoRoute) {
		t.Fatalf("write without a route: handled %v, %v; want handled with errNoRoute", handled, err)
	}
}

func TestOutboundWriteDoesNotAllocate(t *testing.T) {
	o, _, _ := newTestOutbound(t)
	h := &rtp.Header{Version: 2, PayloadType: 96, SSRC: 77}
	payload := make([]byte, 1100)
	allocs := testing.AllocsPerRun(200, func() {
		h.SequenceNumber++
		if _, err := o.writeRTP(h, payload); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per packet, want 0", allocs)
	}
}

// BenchmarkOutboundWriteRTP measures the fast send path per packet: marshal, SRTP encryption
// and the sendto(2) on loopback.
func BenchmarkOutboundWriteRTP(b *testing.B) {
	o, client, _ := newTestOutbound(b)
	go func() { // drain the client socket so it never fills
		buf := make([]byte, 1500)
		for {
			if _, err := client.Read(buf); err != nil {
				return
			}
		}
	}()
	h := &rtp.Header{Version: 2, PayloadType: 96, SSRC: 77}
	payload := make([]byte, 1100)
	b.ReportAllocs()
	for b.Loop() {
		h.SequenceNumber++
		if _, err := o.writeRTP(h, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// fakeSocket is a mediaSocket that only has a port.
type fakeSocket struct {
	port uint16
	tcp  bool
	from netip.AddrPort // the one client address ICE read from on it
}

func (f *fakeSocket) WriteToAddrPort(b []byte, _ netip.AddrPort) (int, error) { return len(b), nil }

func (f *fakeSocket) localPort() uint16 { return f.port }

func (f *fakeSocket) receivedFrom(addr netip.AddrPort) bool { return f.from == addr }

func (f *fakeSocket) transport() webrtc.ICEProtocol {
	if f.tcp {
		return webrtc.ICEProtocolTCP
	}
	return webrtc.ICEProtocolUDP
}

// newBareOutbound returns an outbound without keys or sockets, of a Transport of its own.
func newBareOutbound(t testing.TB) *outbound {
	tr := newTestTransport(t, Config{})
	log := slog.New(slog.DiscardHandler)
	return newOutbound(tr, newInbound(tr, &testSink{}, log), log)
}

func TestOutboundFollowsTheSelectedPair(t *testing.T) {
	o := newBareOutbound(t)
	routes := &o.t.routes
	old, other, renewed := &fakeSocket{port: 4000}, &fakeSocket{port: 4001}, &fakeSocket{port: 4000}
	tcp := &fakeSocket{port: 4002, tcp: true}
	// The muxed port on two local IPs: the client reached the first one.
	reached := &fakeSocket{port: 4003, from: netip.MustParseAddrPort("192.0.2.7:5000")}
	bridge := &fakeSocket{port: 4003}
	o.addSocket(old)
	o.addSocket(other)
	o.addSocket(renewed) // after an ICE restart, on the port of a closed socket
	o.addSocket(tcp)
	o.addSocket(reached)
	o.addSocket(bridge)
	remote := &webrtc.ICECandidate{Protocol: webrtc.ICEProtocolUDP, Address: "192.0.2.7", Port: 5000}
	for _, tc := range []struct {
		name  string
		local webrtc.ICECandidate
		want  mediaSocket
	}{
		{"host", webrtc.ICECandidate{Protocol: webrtc.ICEProtocolUDP, Typ: webrtc.ICECandidateTypeHost, Port: 4001}, other},
		{"newest socket of a port", webrtc.ICECandidate{Protocol: webrtc.ICEProtocolUDP, Typ: webrtc.ICECandidateTypeHost, Port: 4000}, renewed},
		{"the socket of the port the client reached", webrtc.ICECandidate{Protocol: webrtc.ICEProtocolUDP, Typ: webrtc.ICECandidateTypeHost, Port: 4003}, reached},
		{"server reflexive: its base", webrtc.ICECandidate{Protocol: webrtc.ICEProtocolUDP, Typ: webrtc.ICECandidateTypeSrflx, Port: 61000, RelatedPort: 4001}, other},
		{"not a socket of the peer", webrtc.ICECandidate{Protocol: webrtc.ICEProtocolUDP, Typ: webrtc.ICECandidateTypeHost, Port: 4999}, nil},
		{"tcp", webrtc.ICECandidate{Protocol: webrtc.ICEProtocolTCP, Typ: webrtc.ICECandidateTypeHost, Port: 4002}, tcp},
		{"tcp, on the port of a udp socket", webrtc.ICECandidate{Protocol: webrtc.ICEProtocolTCP, Typ: webrtc.ICECandidateTypeHost, Port: 4001}, nil},
	} {
		o.selectPair(&webrtc.ICECandidatePair{Local: &tc.local, Remote: remote})
		route := o.route.Load()
		switch {
		case tc.want == nil && route != nil:
			t.Errorf("%s: routed to port %d, want no route", tc.name, route.socket.localPort())
		case tc.want != nil && (route == nil || route.socket != tc.want):
			t.Errorf("%s: route %+v, want the socket on port %d", tc.name, route, tc.want.localPort())
		case route != nil && route.addr != netip.MustParseAddrPort("192.0.2.7:5000"):
			t.Errorf("%s: routed to %s, want 192.0.2.7:5000", tc.name, route.addr)
		}
	}

	// A pair on the muxed port also routes the client's media to this peer (muxRoutes) until
	// the pair changes or the PeerConnection closes.
	shared, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	muxed := newMuxConn(shared, webrtc.ICEProtocolUDP, o.in, o)
	client := netip.MustParseAddrPort("192.0.2.7:5000")
	routed := func() bool {
		routes.mu.RLock()
		defer routes.mu.RUnlock()
		return routes.in[client] == o.in
	}
	o.selectPair(&webrtc.ICECandidatePair{Local: &webrtc.ICECandidate{Protocol: webrtc.ICEProtocolUDP,
		Typ: webrtc.ICECandidateTypeHost, Port: muxed.localPort()}, Remote: remote})
	if r := o.route.Load(); r == nil || r.socket != muxed || !routed() {
		t.Fatalf("a pair on the muxed port: route %+v, muxRoutes routed %v", r, routed())
	}
	o.selectPair(&webrtc.ICECandidatePair{Local: &webrtc.ICECandidate{Protocol: webrtc.ICEProtocolUDP,
		Typ: webrtc.ICECandidateTypeHost, Port: 4001}, Remote: remote})
	if routed() {
		t.Fatal("the muxed port still routes the client to the peer after the pair moved")
	}
	o.selectPair(&webrtc.ICECandidatePair{Local: &webrtc.ICECandidate{Protocol: webrtc.ICEProtocolUDP,
		Typ: webrtc.ICECandidateTypeHost, Port: muxed.localPort()}, Remote: remote})
	o.close()
	if routed() || o.route.Load() != nil {
		t.Fatal("a closed outbound still routes")
	}
}
