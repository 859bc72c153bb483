package turn

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// pendingTimeout is how long a reservation made by the quota check waits for its allocation
// to be created before it lapses (the allocation failed after the check).
const pendingTimeout = 5 * time.Second

// Causes of refused allocations, as counted in Stats.
const (
	refusedPerIP = "per_ip"
	refusedTotal = "total"
)

// ipQuota caps concurrent allocations per client IP (an IPv6 client's /64) and in total.
// Pion asks the quota handler before it creates an allocation and reports creations and
// deletions through its event handler, so a check reserves a slot keyed by the client's
// transport address, and the creation turns that reservation into a live allocation. Safe
// for concurrent use.
type ipQuota struct {
	perIP, total int
	now          func() time.Time

	mu         sync.Mutex
	live       map[netip.Addr]int // allocations per client prefix, pending ones included
	pending    map[string]reservation
	allocated  map[string]int // live allocations per client transport address
	allocTotal int            // live and pending allocations
}

type reservation struct {
	prefix netip.Addr
	at     time.Time
}

func newIPQuota(perIP, total int, now func() time.Time) *ipQuota {
	return &ipQuota{perIP: perIP, total: total, now: now, live: make(map[netip.Addr]int),
		pending: make(map[string]reservation), allocated: make(map[string]int)}
}

// reserve takes a slot for one allocation by the client at src, or returns the cause of the
// refusal.
func (q *ipQuota) reserve(src net.Addr) (ok bool, cause string) {
	prefix := clientPrefix(src)
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.lapseLocked(now)
	switch {
	case q.live[prefix] >= q.perIP:
		return false, refusedPerIP
	case q.allocTotal >= q.total:
		return false, refusedTotal
	}
	key := src.String()
	if _, dup := q.pending[key]; dup {
		return true, "" // a retransmitted Allocate: the slot is already held
	}
	q.pending[key] = reservation{prefix: prefix, at: now}
	q.live[prefix]++
	q.allocTotal++
	return true, ""
}

// created turns src's reservation into a live allocation (or counts one that had none).
func (q *ipQuota) created(src net.Addr) {
	key := src.String()
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.pending[key]; ok {
		delete(q.pending, key)
	} else {
		q.live[clientPrefix(src)]++
		q.allocTotal++
	}
	q.allocated[key]++
}

// deleted gives back the slot of one of src's allocations.
func (q *ipQuota) deleted(src net.Addr) {
	key := src.String()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.allocated[key] == 0 {
		return
	}
	if q.allocated[key]--; q.allocated[key] == 0 {
		delete(q.allocated, key)
	}
	q.giveBackLocked(clientPrefix(src))
}

// lapseLocked drops reservations whose allocation was never created. Must be called with
// mu held.
func (q *ipQuota) lapseLocked(now time.Time) {
	for key, r := range q.pending {
		if now.Sub(r.at) >= pendingTimeout {
			delete(q.pending, key)
			q.giveBackLocked(r.prefix)
		}
	}
}

func (q *ipQuota) giveBackLocked(prefix netip.Addr) {
	q.allocTotal--
	if q.live[prefix]--; q.live[prefix] <= 0 {
		delete(q.live, prefix)
	}
}

// clientPrefix is the key a client is counted under: its IPv4 address, or the /64 of its
// IPv6 address (one subscriber's allocation).
func clientPrefix(addr net.Addr) netip.Addr {
	var ip net.IP
	switch a := addr.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	}
	a, _ := netip.AddrFromSlice(ip)
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}
