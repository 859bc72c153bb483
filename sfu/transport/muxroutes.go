package transport

import (
	"net"
	"net/netip"
	"sync"

	piontransport "github.com/pion/transport/v5"
)

// muxRoutes maps the client address of each selected candidate pair on the muxed UDP port to
// its peer's inbound fast path, so the poller of the port's socket hands media straight to
// the peer; Pion's mux, which reads what is left, would otherwise demultiplex and copy every
// packet on a goroutine of its own. outbound.selectPair keeps the map. A packet from an
// address no peer claims, or one that does not authenticate with the claiming peer's keys
// (the address may be stale), goes on to Pion's mux, which drops what is not a peer's.
// Safe for concurrent use.
type muxRoutes struct {
	mu sync.RWMutex
	in map[netip.AddrPort]*inbound

	refuses func(netip.AddrPort) bool // Config.RefusesSource; set once by New
}

// set routes addr to in.
func (r *muxRoutes) set(addr netip.AddrPort, in *inbound) {
	r.mu.Lock()
	r.in[addr] = in
	r.mu.Unlock()
}

// remove drops the route of addr if it goes to in.
func (r *muxRoutes) remove(addr netip.AddrPort, in *inbound) {
	r.mu.Lock()
	if r.in[addr] == in {
		delete(r.in, addr)
	}
	r.mu.Unlock()
}

// takeFrom implements packetTaker.
func (r *muxRoutes) takeFrom(b []byte, from netip.AddrPort, s *scratch) bool {
	r.mu.RLock()
	in := r.in[from]
	r.mu.RUnlock()
	if in != nil && in.tryTake(b, s) {
		return true
	}
	return r.refuses(from) // taken means dropped: Pion never sees it
}

// muxNet is the transport.Net the muxed UDP port is opened with: its IPv4 sockets are polled,
// their media routed by muxRoutes; the rest is the wrapped Net's.
type muxNet struct {
	piontransport.Net
	t *Transport
}

// muxReadBuffer is the receive buffer asked for the muxed port's sockets, which hold every
// peer's packets between two polls (the kernel caps it at net.core.rmem_max).
const muxReadBuffer = 4 << 20

// ListenUDP opens one socket of the muxed port.
func (n *muxNet) ListenUDP(network string, laddr *net.UDPAddr) (piontransport.UDPConn, error) {
	p := n.t.nextPoller()
	if p == nil || !isUDP4(network, laddr) {
		return n.Net.ListenUDP(network, laddr)
	}
	c, err := listenPolled(p, laddr, &n.t.routes)
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(muxReadBuffer)
	return c, nil
}
