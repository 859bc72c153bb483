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
}
