package signaling

import (
	"net/netip"
	"sync"
)

// mediaQuota caps how many sessions of one client (an IPv4 address, or an IPv6 client's /64)
// hold a PeerConnection at once: each one holds server UDP ports and forwarding state. Safe
// for concurrent use.
type mediaQuota struct {
	perIP int // 0: no cap
	mu    sync.Mutex
	held  map[netip.Addr]int
}

func newMediaQuota(perIP int) *mediaQuota {
	return &mediaQuota{perIP: perIP, held: make(map[netip.Addr]int)}
}

// acquire takes a slot for ip, reporting false when ip holds perIP already.
func (q *mediaQuota) acquire(ip string) bool {
	key := clientKey(ip)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.perIP > 0 && q.held[key] >= q.perIP {
		return false
	}
	q.held[key]++
	return true
}

// release gives back a slot taken by acquire.
func (q *mediaQuota) release(ip string) {
	key := clientKey(ip)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.held[key] <= 1 {
		delete(q.held, key)
		return
	}
	q.held[key]--
}

// clientKey is what a client is counted under: its IPv4 address or the /64 of its IPv6
// address (one subscriber's usual allocation). Unparsable addresses (which the HTTP server
// does not produce) share the zero address's bucket.
func clientKey(ip string) netip.Addr {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Addr{}
	}
	a = a.Unmap()
	if a.Is4() {
		return a
	}
	p, _ := a.Prefix(64)
	return p.Addr()
}
