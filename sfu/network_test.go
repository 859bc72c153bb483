package sfu_test

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/sfu/synth"
)

// freePort returns a port that was free on 127.0.0.1 for the network ("tcp" or "udp").
func freePort(t *testing.T, network string) int {
	t.Helper()
	var addr net.Addr
	switch network {
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr()
		ln.Close()
	default:
		conn, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = conn.LocalAddr()
		conn.Close()
	}
	_, port, _ := net.SplitHostPort(addr.String())
	n, _ := strconv.Atoi(port)
	return n
}

func TestAllMediaOnOneMuxedUDPPort(t *testing.T) {
	port := freePort(t, "udp")
	s := newSFU(t, sfu.Config{UDPMuxPort: port})
	var candidates []string
	a := connect(t, s, true)
	b := connectWith(t, s, synth.Options{Send: true})
	sfu.Pair(a.peer, b.peer)
	a.waitPackets(t, video, b, 10)
	b.waitPackets(t, video, a, 10)
	for _, ep := range []*endpoint{a, b} {
		pair, err := ep.client.PC().SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		if err == nil && pair != nil {
			candidates = append(candidates, pair.Remote.String())
			if pair.Remote.Port != uint16(port) {
				t.Fatalf("client talks to server port %d, want the mux port %d", pair.Remote.Port, port)
			}
		}
	}
	if len(candidates) == 0 {
		t.Fatal("no selected candidate pair to check")
	}
	// Pion's mux reads the shared socket, and the SFU's fast paths decrypt and send the media
	// of each peer's share of it.
	if st := s.Stats(); st.FastPathPackets < st.VideoPacketsForwarded ||
		st.FastPathPacketsSent < st.VideoPacketsForwarded+st.AudioPacketsForwarded {
		t.Fatalf("sfu stats %+v: want every forwarded packet received and sent on the fast paths", st)
	}
	waitFor(t, "congestion control feedback on the muxed port", func() bool { return a.client.CongestionFeedback() > 0 })
}

// Packets that look like SRTP or SRTCP but are not the client's (garbage, or a replay from
// another address) are dropped at the media port; the call goes on.
func TestForgedPacketsAtTheMediaPortAreDropped(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	a, b := connect(t, s, true), connect(t, s, true)
	sfu.Pair(a.peer, b.peer)
	a.waitPackets(t, video, b, 10)
	pair, err := b.client.PC().SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("selected pair: %v", err)
	}
	target := &net.UDPAddr{IP: net.ParseIP(pair.Remote.Address), Port: int(pair.Remote.Port)}
	attacker, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Close()

	forged := make([]byte, 1200)
	for i := range 300 {
		for j := range forged {
			forged[j] = byte(i*31 + j*7)
		}
		forged[0] = 0x80                           // RTP version 2
		forged[1] = []byte{96, 111, 200, 201}[i%4] // VP8, Opus, SR, RR
		if _, err := attacker.WriteToUDP(forged[:12+i%1000], target); err != nil {
			t.Fatal(err)
		}
	}
	seen := len(from(a.client.Packets(), video, b.client.Source()))
	a.waitPackets(t, video, b, seen+30)
	// Nothing forged was forwarded: everything a received carries b's source marker.
	for _, p := range a.client.Packets() {
		if p.Source != b.client.Source() {
			t.Fatalf("client received a packet from source %d, want only %d", p.Source, b.client.Source())
		}
	}
}

func TestICEOverTCPForClientsWithoutUDP(t *testing.T) {
	port := freePort(t, "tcp")
	s := newSFU(t, sfu.Config{TCPPort: port})
	a := connectWith(t, s, synth.Options{Send: true, TCP: true})
	b := connect(t, s, true)
	sfu.Pair(a.peer, b.peer)
	a.waitPackets(t, video, b, 10)
	b.waitPackets(t, video, a, 10)
	pair, err := a.client.PC().SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("selected pair: %v", err)
	}
	if !strings.EqualFold(pair.Remote.Protocol.String(), "tcp") || pair.Remote.Port != uint16(port) {
		t.Fatalf("TCP-only client uses %s, want TCP to port %d", pair.Remote, port)
	}
	waitFor(t, "congestion control feedback over TCP", func() bool { return a.client.CongestionFeedback() > 0 })
	// The fast paths cover ICE-TCP connections too.
	if st := s.Stats(); st.FastPathPackets < st.VideoPacketsForwarded ||
		st.FastPathPacketsSent < st.VideoPacketsForwarded+st.AudioPacketsForwarded {
		t.Fatalf("sfu stats %+v: want every forwarded packet received and sent on the fast paths", st)
	}
}
