package transport

import (
	"net/netip"
	"testing"
)

func TestMuxRoutesHandMediaToThePeerOfItsAddress(t *testing.T) {
	in, client := newFuzzInbound(t)
	internal := netip.MustParseAddrPort("10.0.0.7:5000")
	routes := &muxRoutes{in: make(map[netip.AddrPort]*inbound),
		refuses: func(a netip.AddrPort) bool { return a == internal }}
	if !routes.takeFrom([]byte{0, 1, 0, 0}, internal, new(scratch)) {
		t.Fatal("a STUN packet from a refused address went on to Pion")
	}
	addr, stranger := netip.MustParseAddrPort("192.0.2.1:5000"), netip.MustParseAddrPort("192.0.2.1:5001")
	routes.set(addr, in)

	plain, encrypted := clientVP8(t, client, 1)
	var scratch scratch
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
	_, encrypted = clientVP8(t, client, 2)
	if !routes.takeFrom(encrypted, addr, &scratch) {
		t.Fatal("a route was removed by a peer that does not own it")
	}
	routes.remove(addr, in)
	if routes.takeFrom(encrypted, addr, &scratch) {
		t.Fatal("took a packet after its route was removed")
	}
}
