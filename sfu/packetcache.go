package sfu

import (
	"sync"
	"time"

	"github.com/pion/rtp"
)

// packetCacheSize is the number of packets a video downTrack keeps for retransmissions. At
// 1.5 Mbps (about 150 packets/s) it covers about 1.7 s, longer than any useful
// retransmission. The cache costs about 380 KB per peer, allocated with the first packet.
const packetCacheSize = 256

// maxCachedPayload is the largest payload cached; Pion's receive MTU bounds what we forward.
const maxCachedPayload = 1460

// resendInterval is how long after resending a packet the cache refuses to resend it again
// while the client's round-trip time is unknown; once it is known, half of it, at least
// minResendInterval (resendGap). A browser repeats a NACK about one round trip after the
// last, so a repeat that comes sooner than half of one after the resend (or the same packet
// named many times over in one NACK) is a duplicate, not a second loss; the next repeat is a
// lost retransmission, answered again.
const (
	resendInterval    = 100 * time.Millisecond
	minResendInterval = 5 * time.Millisecond
)

// resendGap is the interval between two resends of a packet for a client whose round-trip
// time is rttMs (0: unknown).
func resendGap(rttMs float64) time.Duration {
	if rttMs <= 0 {
		return resendInterval
	}
	return min(max(time.Duration(rttMs*float64(time.Millisecond)/2), minResendInterval), resendInterval)
}

// maxRetransmitCredit caps the payload bytes a downTrack may resend in a burst. Every packet
// stored earns half its payload size in credit, so a client can never make the server resend
// more than half of what it forwards to that client, however it words its NACKs.
const maxRetransmitCredit = 128 << 10

// loadResult says what packetCache.load did with a request for one sequence number.
type loadResult int

const (
	loaded     loadResult = iota // copied out: resend it
	notCached                    // never cached or already overwritten
	duplicate                    // resent less than the resend gap ago
	overBudget                   // the retransmit credit cannot pay for it
)

// packetCache keeps the last packetCacheSize packets sent on a downTrack, indexed by output
// sequence number, so NACKs from the client can be answered without asking the sender. It
// answers each packet at most once per resendInterval and within a byte budget, so a NACK
// (up to about 6,000 sequence numbers in 1.4 KB) cannot turn into a storm of resends.
//
// It replaces Pion's NACK responder interceptor, which allocates two objects per packet sent;
// this cache reuses fixed slots and allocates only once. Safe for concurrent use: the
// forwarding goroutines store, the downTrack's RTCP goroutine loads; mu is held only for the
// copy, never across a network write.
type packetCache struct {
	mu     sync.Mutex
	slots  []cacheSlot
	credit int // payload bytes that may be resent now; guarded by mu
}

type cacheSlot struct {
	valid    bool
	resentAt time.Duration // when it was last resent, since cacheEpoch; 0 if never
	header   rtp.Header    // without CSRCs and extensions (a resent packet carries none)
	size     int
	payload  [maxCachedPayload]byte
}

// cacheEpoch anchors the cache's monotonic clock (time.Since keeps the monotonic reading).
var cacheEpoch = time.Now()

// cacheNow returns the cache clock: never zero, so a zero resentAt means "never resent".
func cacheNow() time.Duration { return time.Since(cacheEpoch) + 1 }

// store copies a packet into its slot and earns retransmit credit. Payloads too large to
// cache are skipped.
func (c *packetCache) store(h *rtp.Header, payload []byte) {
	if len(payload) > maxCachedPayload {
		return
	}
	c.mu.Lock()
	if c.slots == nil {
		c.slots = make([]cacheSlot, packetCacheSize)
		c.credit = maxRetransmitCredit
	}
	s := &c.slots[h.SequenceNumber%packetCacheSize]
	s.valid = true
	s.resentAt = 0
	s.header = *h
	s.header.CSRC, s.header.Extensions, s.header.Extension = nil, nil, false
	s.size = copy(s.payload[:], payload)
	c.credit = min(c.credit+len(payload)/2, maxRetransmitCredit)
	c.mu.Unlock()
}

// load copies the packet with sequence number seq into h and buf (which must hold
// maxCachedPayload bytes) if it may be resent at now (a cacheNow reading), gap after its last
// resend, and returns its payload; otherwise it says why not.
func (c *packetCache) load(seq uint16, now, gap time.Duration, h *rtp.Header, buf []byte) ([]byte, loadResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slots == nil {
		return nil, notCached
	}
	s := &c.slots[seq%packetCacheSize]
	switch {
	case !s.valid || s.header.SequenceNumber != seq:
		return nil, notCached
	case s.resentAt != 0 && now-s.resentAt < gap:
		return nil, duplicate
	case c.credit < s.size:
		return nil, overBudget
	}
	c.credit -= s.size
	s.resentAt = now
	*h = s.header
	return buf[:copy(buf, s.payload[:s.size])], loaded
}
