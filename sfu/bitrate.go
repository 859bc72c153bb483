package sfu

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Receiver-aware bitrate. A browser's own congestion control measures only its leg to the
// server; nothing tells it that its partner's downlink is slower. So the server's video carries
// the absolute send time (abs-send-time, codecs.go), the receiving browser runs its own
// delay-based estimator on it (Chrome's receive-side Google Congestion Control) and reports
// its downlink in REMB messages; the server caps the partner's sender with that figure, in a
// REMB of its own, at once when it changes and at least every reportInterval. No estimator is
// written here: the browser's is maintained and tuned for exactly this.
//
// Below Config.VideoFloor the receiver's video is paused: the server stops forwarding it, audio
// goes on, and PeerEvents.OnVideoPaused tells the session. A paused receiver gets nothing its
// estimator can measure (browsers estimate on video only), so its estimate cannot recover by
// itself: after a delay (probeDelay, doubling while trials fail) video resumes as a trial, with
// the sender allowed at least the floor, and an estimate under the floor is tolerated for
// probeGrace while the browser's estimator ramps up. An estimate that recovers while paused
// (a client that keeps reporting) resumes video at once.

const (
	// estimateTTL is how long a client's REMB caps its partner's sender; an older estimate
	// (a client that stopped reporting) caps nothing.
	estimateTTL = 5 * time.Second
	// uncapped is the REMB the server sends when no estimate caps the sender: far above any
	// camera's rate, it lifts an earlier cap.
	uncapped = 50_000_000
	// probeGrace is how long after video resumes (a trial, or a new partner) an estimate
	// under the floor does not pause it again.
	probeGrace = 4 * time.Second
	// minProbeDelay and maxProbeDelay bound how long video stays paused before a trial.
	minProbeDelay = 4 * time.Second
	maxProbeDelay = 32 * time.Second
	// resumeAbove is the factor over the floor at which a fresh estimate resumes paused video.
	resumeAbove = 1.25
)

// downlink is what the server knows of a client's downlink: the client's latest estimate and
// whether video to it is paused. Safe for concurrent use.
type downlink struct {
	paused atomic.Bool // read by the forwarding path

	mu         sync.Mutex
	estimate   int64         // bits per second from the client's latest REMB; 0: none yet
	at         int64         // when it came (unix nanos)
	since      int64         // when video was last paused or resumed (unix nanos)
	probeDelay time.Duration // how long the current or next pause lasts before a trial
	graceUntil int64         // until then an estimate under the floor does not pause video
	trial      bool          // video resumed on a trial, with no estimate since
}

// update records an estimate of bps at now and reports whether video to the client changes
// state (changed) and its new state. floor <= 0 never pauses.
func (l *downlink) update(bps, now, floor int64) (changed, paused bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.estimate, l.at = bps, now
	l.trial = false
	isPaused := l.paused.Load()
	switch {
	case floor <= 0:
		return false, isPaused
	case !isPaused && bps < floor && now >= l.graceUntil:
		l.pauseLocked(now)
		return true, true
	case isPaused && float64(bps) >= float64(floor)*resumeAbove:
		l.resumeLocked(now)
		l.probeDelay = 0 // recovered, not a trial: the next pause starts short again
		return true, false
	}
	return false, isPaused
}

// pauseLocked pauses video. A pause soon after the last resume means a failed trial: it lasts
// twice as long as the one before. Must be called with mu held.
func (l *downlink) pauseLocked(now int64) {
	switch {
	case l.probeDelay == 0 || time.Duration(now-l.since) > 2*maxProbeDelay:
		l.probeDelay = minProbeDelay
	default:
		l.probeDelay = min(2*l.probeDelay, maxProbeDelay)
	}
	l.paused.Store(true)
	l.since = now
	l.trial = false
}

// resumeLocked resumes video with a grace period. Must be called with mu held.
func (l *downlink) resumeLocked(now int64) {
	l.paused.Store(false)
	l.since = now
	l.graceUntil = now + int64(probeGrace)
}

// tick runs every reportInterval: it resumes paused video as a trial once the pause has
// lasted probeDelay, and pauses video whose latest estimate, reported since video last
// resumed, is still under the floor when the grace period ends (the estimate may have come
// early in it, and a browser reports an unchanged estimate rarely). It reports whether video
// changed state, and the new state.
func (l *downlink) tick(now, floor int64) (changed, paused bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	isPaused := l.paused.Load()
	switch {
	case isPaused && now-l.since >= int64(l.probeDelay):
		l.resumeLocked(now)
		l.trial = true
		return true, false
	case !isPaused && floor > 0 && l.estimate > 0 && l.estimate < floor &&
		l.at >= l.since && now >= l.graceUntil:
		l.pauseLocked(now)
		return true, true
	}
	return false, isPaused
}

// newPartner gives the next partner's video a fresh start: resumed, with a grace period. The
// session learns it from the pairing, not from OnVideoPaused.
func (l *downlink) newPartner(now int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.trial = l.paused.Load()
	l.resumeLocked(now)
}

// capFor returns the bitrate the client's partner may send it at now: the floor while video is
// paused or on a trial with no estimate since; the client's fresh estimate, but at least the
// floor while a trial or a new partner's start is in its grace period; uncapped without a fresh
// estimate.
func (l *downlink) capFor(now, floor int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.paused.Load() || l.trial:
		return max(floor, 1)
	case l.estimate == 0 || now-l.at > int64(estimateTTL):
		return uncapped
	case now < l.graceUntil:
		return max(l.estimate, floor)
	}
	return l.estimate
}

// handleREMB takes a client's estimate of its downlink: it may pause or resume the video the
// client receives, and it goes on at once to the partner's sender as a cap. A client's
// estimate only ever limits the video it receives itself.
func (p *Peer) handleREMB(remb *rtcp.ReceiverEstimatedMaximumBitrate) {
	bps := float64(remb.Bitrate)
	if !(bps >= 1) { // NaN, negative or zero: no estimate (a REMB's wire format cannot say that)
		return
	}
	p.sfu.counters.rembsReceived.Add(1)
	changed, paused := p.downlink.update(int64(min(bps, uncapped)), time.Now().UnixNano(), p.sfu.cfg.VideoFloor)
	if changed {
		p.videoStateChanged(paused)
	}
	if q := p.partner.Load(); q != nil {
		q.requestCapUpdate()
	}
}

// videoStateChanged acts on a pause or resume of the video the client receives: a resume
// restarts the video down track on a keyframe of the partner. The session hears of it through
// OnVideoPaused, on a goroutine of its own (the caller may hold the hub's locks via Pair).
func (p *Peer) videoStateChanged(paused bool) {
	if paused {
		p.sfu.counters.videoPauses.Add(1)
	} else {
		p.down[kindVideo].reset()
		if q := p.partner.Load(); q != nil {
			q.requestKeyframe(true)
		}
	}
	if q := p.partner.Load(); q != nil {
		q.requestCapUpdate()
	}
	if p.ev.OnVideoPaused != nil {
		go p.ev.OnVideoPaused(paused)
	}
}

// requestCapUpdate asks the control goroutine to send the client its current cap. It never
// blocks.
func (p *Peer) requestCapUpdate() {
	select {
	case p.capReq <- struct{}{}:
	default:
	}
}

// sendCap writes the client a REMB capping its send rate at what its partner can receive, if
// it has a partner and an up track.
func (p *Peer) sendCap(pc *webrtc.PeerConnection) {
	q := p.partner.Load()
	if q == nil {
		return
	}
	var ssrcs []uint32
	for kind := range p.up {
		if up := p.up[kind].Load(); up != nil {
			ssrcs = append(ssrcs, up.ssrc)
		}
	}
	if len(ssrcs) == 0 {
		return
	}
	bps := q.partnerCap(time.Now().UnixNano(), p.sfu.cfg.VideoFloor)
	remb := &rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(bps), SSRCs: ssrcs}
	if err := p.writeRTCP(pc, []rtcp.Packet{remb}); err != nil {
		p.sfu.log.Debug("send remb", "peer", p.id, "err", err)
		return
	}
	p.sfu.counters.capsSent.Add(1)
}

// checkVideo runs the downlink's tick (trials and late pauses). Called from the control
// goroutine every reportInterval.
func (p *Peer) checkVideo() {
	if changed, paused := p.downlink.tick(time.Now().UnixNano(), p.sfu.cfg.VideoFloor); changed {
		p.videoStateChanged(paused)
	}
}

// VideoPaused reports whether the video this peer's client receives is paused because its
// downlink is under Config.VideoFloor.
func (p *Peer) VideoPaused() bool { return p.downlink.paused.Load() }

// absSendTime is the abs-send-time header extension's value for now (unix nanos): seconds in
// 6.18 fixed point, 24 bits.
func absSendTime(now int64) uint32 {
	sec, frac := uint64(now)/1e9, uint64(now)%1e9
	return uint32(sec<<18|frac<<18/1e9) & 0xffffff
}

// extScratch holds one packet's abs-send-time extension until it is marshalled.
type extScratch struct{ b [3]byte }

var extScratches = sync.Pool{New: func() any { return new(extScratch) }}

// setAbsSendTime adds the abs-send-time extension with id to h, its value held in s until h
// is marshalled.
func setAbsSendTime(h *rtp.Header, id uint8, s *extScratch, now int64) {
	v := absSendTime(now)
	s.b = [3]byte{byte(v >> 16), byte(v >> 8), byte(v)}
	_ = h.SetExtension(id, s.b[:]) // a valid one-byte id and 3 bytes: cannot fail
}
