package sfu

import "time"

// Pair starts forwarding a's media to b and b's to a, asks both clients for a keyframe at once
// (unless a client's latest one is cached, see gopcache.go), and caps each sender with its new
// partner's downlink estimate; video paused for a weak downlink resumes for the new partner as
// a trial (bitrate.go). A peer that is already paired is unpaired first. Either peer may have
// no PeerConnection or no tracks yet: forwarding starts whenever media appears. Pair never
// blocks on network I/O, so callers may hold their own locks. Pairing a peer with itself or
// with nil does nothing. a and b must come from the same SFU.
func Pair(a, b *Peer) {
	if a == nil || b == nil || a == b {
		return
	}
	s := a.sfu
	s.pairMu.Lock()
	defer s.pairMu.Unlock()
	if a.partner.Load() == b && b.partner.Load() == a {
		return
	}
	unpairLocked(a)
	unpairLocked(b)
	a.partner.Store(b)
	b.partner.Store(a)
	a.resetDownTracks()
	b.resetDownTracks()
	now := time.Now().UnixNano()
	a.downlink.newPartner(now)
	b.downlink.newPartner(now)
	a.requestSwitchKeyframe()
	b.requestSwitchKeyframe()
	a.requestCapUpdate() // each sender's cap follows its new partner's downlink at once
	b.requestCapUpdate()
}

// Unpair stops forwarding between a and b if they are partners. When it returns, no packet
// from the old partner is rewritten for the other any more (one already being written may
// still go out). It never blocks on network I/O.
func Unpair(a, b *Peer) {
	if a == nil || b == nil {
		return
	}
	s := a.sfu
	s.pairMu.Lock()
	defer s.pairMu.Unlock()
	if a.partner.Load() == b {
		unpairLocked(a)
	}
	if b.partner.Load() == a {
		unpairLocked(b)
	}
}

// unpairLocked clears p's partnership on both sides. Called with sfu.pairMu held.
func unpairLocked(p *Peer) {
	q := p.partner.Load()
	if q == nil {
		return
	}
	p.partner.Store(nil)
	p.resetDownTracks()
	p.clearGOP()
	if q.partner.Load() == p {
		q.partner.Store(nil)
		q.resetDownTracks()
		q.clearGOP()
	}
}

// clearGOP forgets what p's video up track cached when p last waited: a group kept from then
// on would miss what was forwarded in between, so a new one starts at p's next keyframe.
func (p *Peer) clearGOP() {
	if up := p.up[kindVideo].Load(); up != nil {
		up.gop.clear()
	}
}

// resetDownTracks makes both downTracks start a new source with the next packet.
func (p *Peer) resetDownTracks() {
	for _, d := range p.down {
		d.reset()
	}
}

// Partner returns the peer p currently receives media from, or nil.
func (p *Peer) Partner() *Peer { return p.partner.Load() }
