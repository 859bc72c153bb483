package sfu

import (
	"sync"

	"github.com/pion/rtp"
)

// packetCacheSize is the number of packets a video downTrack keeps for retransmissions. At
// 1.5 Mbps (about 150 packets/s) it covers about 1.7 s, longer than any useful
// retransmission. The cache costs about 380 KB per peer, allocated with the first packet.
const packetCacheSize = 256

// maxCachedPayload is the largest payload cached; Pion's receive MTU bounds what we forward.
const maxCachedPayload = 1460

// packetCache keeps the last packetCacheSize packets sent on a downTrack, indexed by output
// sequence number, so NACKs from the client can be answered without asking the sender.
//
// It replaces Pion's NACK responder interceptor, which allocates two objects per packet sent;
// this cache reuses fixed slots and allocates only once. Safe for concurrent use: the
// forwarding goroutines store, the downTrack's RTCP goroutine loads; mu is held only for the
// copy, never across a network write.
type packetCache struct {
	mu    sync.Mutex
	slots []cacheSlot
}

type cacheSlot struct {
	valid   bool
	header  rtp.Header // without CSRCs and extensions (the SFU forwards none)
	size    int
	payload [maxCachedPayload]byte
}

// store copies a packet into its slot. Payloads too large to cache are skipped.
func (c *packetCache) store(h *rtp.Header, payload []byte) {
	if len(payload) > maxCachedPayload {
		return
	}
	c.mu.Lock()
	if c.slots == nil {
		c.slots = make([]cacheSlot, packetCacheSize)
	}
	s := &c.slots[h.SequenceNumber%packetCacheSize]
	s.valid = true
	s.header = *h
	s.header.CSRC, s.header.Extensions = nil, nil
	s.size = copy(s.payload[:], payload)
	c.mu.Unlock()
}

// load copies the packet with sequence number seq into h and buf (which must hold
// maxCachedPayload bytes) and returns its payload, or false if it is no longer cached.
func (c *packetCache) load(seq uint16, h *rtp.Header, buf []byte) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slots == nil {
		return nil, false
	}
	s := &c.slots[seq%packetCacheSize]
	if !s.valid || s.header.SequenceNumber != seq {
		return nil, false
	}
	*h = s.header
	return buf[:copy(buf, s.payload[:s.size])], true
}
