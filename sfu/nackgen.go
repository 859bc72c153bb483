package sfu

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// NACK generation toward the clients (the client → server leg), done by the SFU instead of
// Pion's nack generator interceptor for the same reason as the reports (reports.go): the up
// track already sees every packet, and the interceptor's wrapping cost CPU on every packet.
// Missing packets are asked for at once when a gap opens (at most once per nackSpacing per
// peer) and again every feedbackInterval (control.go).
const (
	nackWindow   = 512 // sequence numbers remembered per up track
	nackMaxTries = 3   // NACKs per missing packet before giving up
	// nackSpacing bounds the immediate NACKs: a client whose every packet opens a gap gets
	// at most one a nackSpacing.
	nackSpacing = 10 * time.Millisecond
)

// nackGenerator remembers which of an up track's newest nackWindow sequence numbers arrived
// and lists the missing ones for a NACK. packet runs on the up track's goroutine, missing on
// the control goroutine; mu guards everything.
type nackGenerator struct {
	mu       sync.Mutex
	started  bool
	newest   uint16
	span     int // sequence numbers tracked so far, up to nackWindow
	received [nackWindow / 64]uint64
	tries    [nackWindow]uint8
}

// packet records the arrival of seq and reports whether it opened a gap (packets before it
// are missing). Zero allocations; work proportional to the gap it opens.
func (g *nackGenerator) packet(seq uint16) (gap bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.started {
		g.started, g.newest, g.span = true, seq, 1
		g.reset(seq, true)
		return false
	}
	diff := int(int16(seq - g.newest))
	gap = diff > 1 && diff < nackWindow
	switch {
	case diff > 0:
		if diff >= nackWindow {
			clear(g.received[:])
			clear(g.tries[:])
		} else {
			for s := g.newest + 1; s != seq; s++ {
				g.reset(s, false)
			}
		}
		g.reset(seq, true)
		g.newest = seq
		g.span = min(g.span+diff, nackWindow)
	case diff > -g.span: // a late packet inside the window: no longer missing
		g.received[seq%nackWindow/64] |= 1 << (seq % 64)
	}
	return gap
}

// reset starts slot seq afresh: arrived or missing, not asked for yet.
func (g *nackGenerator) reset(seq uint16, arrived bool) {
	i := seq % nackWindow
	if arrived {
		g.received[i/64] |= 1 << (i % 64)
	} else {
		g.received[i/64] &^= 1 << (i % 64)
	}
	g.tries[i] = 0
}

// missing appends to dst the sequence numbers still missing that were asked for fewer than
// nackMaxTries times, counting this request, oldest first. lost counts the packets given up
// in this call: still missing a whole feedbackInterval after their last request.
func (g *nackGenerator) missing(dst []uint16) (seqs []uint16, lost int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for back := g.span - 1; back > 0; back-- {
		s := g.newest - uint16(back)
		i := s % nackWindow
		switch {
		case g.received[i/64]&(1<<(i%64)) != 0 || g.tries[i] > nackMaxTries:
		case g.tries[i] == nackMaxTries:
			g.tries[i]++ // given up, counted once
			lost++
		default:
			g.tries[i]++
			dst = append(dst, s)
		}
	}
	return dst, lost
}

// requestNACK asks the control goroutine to send the client a NACK now (a gap just opened), at
// most once per nackSpacing. It never blocks.
func (p *Peer) requestNACK(now int64) {
	last := p.lastNACK.Load()
	if now-last < int64(nackSpacing) || !p.lastNACK.CompareAndSwap(last, now) {
		return
	}
	select {
	case p.nackReq <- struct{}{}:
	default:
	}
}

// sendNACKs asks the client again for the video packets its up track is missing (see
// pendingNACK). Called by the control goroutine every feedbackInterval and when a gap opens;
// seqs is its reused scratch slice, returned for reuse.
func (p *Peer) sendNACKs(pc *webrtc.PeerConnection, seqs []uint16) []uint16 {
	nack, seqs := p.pendingNACK(seqs)
	if nack == nil {
		return seqs
	}
	if err := p.writeRTCP(pc, []rtcp.Packet{nack}); err != nil {
		p.sfu.log.Debug("send nack", "peer", p.id, "err", err)
	}
	return seqs
}

// pendingNACK returns the NACK for the video packets p's up track is missing, or nil if none
// is to be asked for now. A packet still missing after its last NACK cannot be repaired in
// time: the sender is asked for a keyframe (throttled), so its partner's picture recovers
// without waiting for the partner's own PLI. seqs is the caller's reused scratch slice,
// returned for reuse.
func (p *Peer) pendingNACK(seqs []uint16) (*rtcp.TransportLayerNack, []uint16) {
	up := p.up[kindVideo].Load()
	if up == nil {
		return nil, seqs
	}
	seqs, lost := up.nacks.missing(seqs[:0])
	if lost > 0 {
		p.sfu.counters.unrepaired.Add(uint64(lost))
		if p.partner.Load() != nil {
			p.requestKeyframe(false)
		}
	}
	if len(seqs) == 0 {
		return nil, seqs
	}
	var sender uint32
	if b := p.down[kindVideo].binding.Load(); b != nil {
		sender = b.ssrc
	}
	return &rtcp.TransportLayerNack{SenderSSRC: sender, MediaSSRC: up.ssrc,
		Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}, seqs
}
