package sfu

import (
	"net/netip"
	"testing"

	"github.com/pion/rtp"
)

func TestMuxRoutesHandMediaToThePeerOfItsAddress(t *testing.T) {
	in, client := newFuzzInbound(t)
	routes := &muxRoutes{in: make(map[netip.AddrPort]*inbound)}
	addr, stranger := netip.MustParseAddrPort("192.0.2.1:5000"), netip.MustParseAddrPort("192.0.2.1:5001")
	routes.set(addr, in)

	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1, SSRC: 42},
		Payload: []byte{0x10, 0, 0x9d, 0x01, 0x2a, 1, 2, 3}}
	plain, err := pkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	encrypted, err := client.EncryptRTP(nil, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	var scratch inboundScratch
	if routes.takeFrom(encrypted, stranger, &scratch) {
		t.Fatal("took a packet from an address no peer claims")
	}
	if !routes.takeFrom(encrypted, addr, &scratch) {
		t.Fatal("did not take the client's packet from its address")
	}
	// After a packet authenticated, a peer's own socket drops what does not; a route may be
	// stale, so here it goes on to Pion's mux.
	forged := append(append([]byte(nil), plain...), make([]byte, 16)...)
	if routes.takeFrom(forged, addr, &scratch) {
		t.Fatal("a packet that does not authenticate was taken instead of passed on")
	}
	if !in.take(forged, &scratch) {
		t.Fatal("the peer's own socket must drop it")
	}

	routes.remove(addr, &inbound{}) // another peer's removal leaves the route alone
	pkt.SequenceNumber = 2
	plain, _ = pkt.Marshal()
	encrypted, _ = client.EncryptRTP(nil, plain, nil)
	if !routes.takeFrom(encrypted, addr, &scratch) {
		t.Fatal("a route was removed by a peer that does not own it")
	}
	routes.remove(addr, in)
	if routes.takeFrom(encrypted, addr, &scratch) {
		t.Fatal("took a packet after its route was removed")
	}
}
