package sfu

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// Feedback over the media bridge (see bridged.go). The instance that receives a partner's
// media over the bridge acts toward the partner's instance as the server acts toward a
// client that sends: it NACKs the video packets its bridged peer's up track misses, and it
// sends the cap its user's downlink puts on the partner's sender. The partner's instance acts
// as the server does toward a receiving client: it answers the NACKs from the cache of what
// it sent over the bridge (the bridged peer's video downTrack), and it passes the cap on to
// its user's client as a REMB, at once and every reportInterval, exactly as a local
// partner's estimate. The downlink state (estimate, pause, trials) lives only on the
// receiver's instance; the sender's instance only applies the cap it is sent.

// remoteCap is a bridged peer's copy of the cap its instance put on the local partner's
// sender. Safe for concurrent use.
type remoteCap struct {
	mu  sync.Mutex
	bps int64 // 0: none received
	at  int64 // when it came (unix nanos)
}

// set records a cap of bps at now.
func (c *remoteCap) set(bps, now int64) {
	c.mu.Lock()
	c.bps, c.at = bps, now
	c.mu.Unlock()
}

// get returns the cap at now: the latest one received, or uncapped if there is none or it is
// older than estimateTTL (the other instance stopped sending it).
func (c *remoteCap) get(now int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bps == 0 || now-c.at > int64(estimateTTL) {
		return uncapped
	}
	return c.bps
}

// partnerCap returns the bitrate p's partner may send p at now: from p's downlink, or for a
// bridged peer, the cap p's instance sent.
func (p *Peer) partnerCap(now, floor int64) int64 {
	if p.remoteCap != nil {
		return p.remoteCap.get(now)
	}
	return p.downlink.capFor(now, floor)
}

// HandleFeedback takes one RTCP packet the partner's instance sent about the media of this
// instance's user (BridgeOut.SendFeedback on the other side): a NACK is answered from the
// cache of the video sent over the bridge, a REMB caps the local partner's sender at once.
// Called by the bridge socket's reader; undecodable packets are dropped.
func (b *BridgedPeer) HandleFeedback(pkt []byte) {
	pkts, err := rtcp.Unmarshal(pkt)
	if err != nil {
		return
	}
	for _, pk := range pkts {
		switch pk := pk.(type) {
		case *rtcp.TransportLayerNack:
			b.routeRTCP(pk) // the bridged video downTrack's cache answers, over the bridge
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			bps := float64(pk.Bitrate)
			if !(bps >= 1) {
				continue
			}
			b.remoteCap.set(int64(min(bps, uncapped)), time.Now().UnixNano())
			if q := b.partner.Load(); q != nil {
				q.requestCapUpdate()
			}
		}
	}
}

// sendBridgeNACKs asks the partner's instance again for the video packets lost on the
// bridge, as sendNACKs asks a client, and reports whether it asked (then it should be called
// again after feedbackInterval, to ask again or give up). Called on the bridged peer's
// goroutine; seqs is its reused scratch slice, returned for reuse.
func (b *BridgedPeer) sendBridgeNACKs(out BridgeOut, seqs []uint16) ([]uint16, bool) {
	nack, seqs := b.pendingNACK(seqs)
	if nack == nil {
		return seqs, false
	}
	raw, err := nack.Marshal()
	if err != nil {
		return seqs, false
	}
	out.SendFeedback(raw)
	return seqs, true
}

// sendBridgeCap sends the partner's instance the cap the local partner's downlink puts on
// the partner's sender (a REMB), as sendCap sends a local sender its partner's. Called on the
// bridged peer's goroutine.
func (b *BridgedPeer) sendBridgeCap(out BridgeOut) {
	q := b.partner.Load()
	if q == nil {
		return
	}
	bps := q.downlink.capFor(time.Now().UnixNano(), b.sfu.cfg.VideoFloor)
	remb := &rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(bps)}
	raw, err := remb.Marshal()
	if err != nil {
		return
	}
	out.SendFeedback(raw)
}
