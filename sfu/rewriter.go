package sfu

import "math/rand/v2"

// guardSpan is how far (in packets) a source must get past its switch point before packets
// are no longer compared with it. Reordering on the Internet spans far fewer packets.
const guardSpan = 8192

// rewriter maps a succession of source RTP streams onto one continuous output stream: at each
// switch the first packet of the new source gets the last output sequence number plus one and
// the last output timestamp plus the wall-clock time that passed, and later packets of that
// source keep their distance to it. Packets older than the switch point are dropped, because
// their numbers would collide with the previous source's.
//
// A rewriter is not safe for concurrent use; downTrack guards it with its mutex.
type rewriter struct {
	clockRate uint32
	lastSeq   uint16 // newest output sequence number
	lastTS    uint32 // output timestamp of the packet with lastSeq
	lastWall  int64  // unix nanos of the last output packet; 0 before the first
	firstSeq  uint16 // first input sequence number of the current source
	// guard drops packets older than firstSeq; it is lifted once the source is far enough
	// past the switch that 16-bit comparisons with firstSeq would become ambiguous.
	guard     bool
	seqOffset uint16
	tsOffset  uint32
}

// newRewriter starts with random sequence number and timestamp, as RFC 3550 recommends.
func newRewriter(clockRate uint32) rewriter {
	return rewriter{clockRate: clockRate, lastSeq: uint16(rand.Uint32()), lastTS: rand.Uint32()}
}

// switchSource makes the packet (seq, ts), seen at wall time now, the first one of a new
// source.
func (r *rewriter) switchSource(seq uint16, ts uint32, now int64) {
	advance := uint32(1)
	if r.lastWall != 0 && now > r.lastWall {
		elapsedUs := uint64(now-r.lastWall) / 1000
		advance = max(1, uint32(elapsedUs*uint64(r.clockRate)/1_000_000))
	}
	r.firstSeq = seq
	r.guard = true
	r.seqOffset = r.lastSeq + 1 - seq
	r.tsOffset = r.lastTS + advance - ts
}

// rewrite maps a packet of the current source to its output sequence number and timestamp.
// ok is false for a packet older than the switch point, which must be dropped.
func (r *rewriter) rewrite(seq uint16, ts uint32, now int64) (outSeq uint16, outTS uint32, ok bool) {
	if r.guard {
		switch d := int16(seq - r.firstSeq); {
		case d < 0:
			return 0, 0, false
		case d > guardSpan:
			r.guard = false
		}
	}
	outSeq, outTS = seq+r.seqOffset, ts+r.tsOffset
	if int16(outSeq-r.lastSeq) > 0 || r.lastWall == 0 {
		r.lastSeq, r.lastTS = outSeq, outTS
	}
	r.lastWall = now
	return outSeq, outTS, true
}
