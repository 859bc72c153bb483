package sfu

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// downTrack is the one audio or video track the server sends a client. It implements
// webrtc.TrackLocal itself (instead of TrackLocalStaticRTP) so the hot path writes straight to
// the bound stream with no extra copy and no allocation.
//
// Concurrency: forward may be called by the up-track goroutines of the old and the new partner
// at the same time around a switch; mu guards the rewriter state, and is never held across the
// network write.
type downTrack struct {
	peer  *Peer // the receiving peer
	kind  int
	codec webrtc.RTPCodecCapability

	binding atomic.Pointer[trackBinding]
	cache   packetCache // video only: answers the client's NACKs
	tx      sendStats   // for the sender reports the peer sends (reports.go)

	mu       sync.Mutex
	rw       rewriter
	mungeVP8 bool      // a VP8 video track: picture IDs are rewritten too
	vp8      vp8Munger // guarded by mu
	// src is the up track currently mapped by rw; nil after Pair/Unpair so the next packet
	// from the partner starts a new source.
	src *upTrack
	// resetAt is when reset last ran (unix nanos), the start of a switch's latency.
	resetAt int64
	clock   switchClock   // video only: the timeline of the switch in progress (timeline.go)
	playout playoutWindow // video only: the playout delay asked for after a switch

	rtxSeq atomic.Uint32 // the RTX stream's sequence numbers (low 16 bits)
}

// trackBinding is what Bind gave us: where and how to write.
type trackBinding struct {
	ssrc        uint32
	payloadType uint8
	writer      webrtc.TrackLocalWriter
	// absSendTime is the client's id for the abs-send-time extension, 0 if not negotiated
	// (video only: the client's downlink estimate runs on it, bitrate.go).
	absSendTime uint8
	// rtxSSRC and rtxPT are the RTX stream retransmissions go on (rtx.go); rtxSSRC is 0 if
	// the client did not negotiate RTX.
	rtxSSRC uint32
	rtxPT   uint8
	// playoutExt is the playout-delay extension's id (playoutdelay.go); 0 if not negotiated.
	playoutExt uint8
}

func newDownTrack(p *Peer, kind int, codec webrtc.RTPCodecCapability) *downTrack {
	d := &downTrack{peer: p, kind: kind, codec: codec, rw: newRewriter(codec.ClockRate),
		mungeVP8: kind == kindVideo && strings.EqualFold(codec.MimeType, webrtc.MimeTypeVP8)}
	d.tx.clockRate = int64(codec.ClockRate)
	return d
}

// Bind implements webrtc.TrackLocal.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, d.codec.MimeType) {
			b := &trackBinding{
				ssrc:        uint32(ctx.SSRC()),
				payloadType: uint8(c.PayloadType),
				writer:      ctx.WriteStream(),
				playoutExt:  playoutExtID(ctx.HeaderExtensions()),
			}
			if d.kind == kindVideo && ctx.SSRCRetransmission() != 0 {
				if pt, ok := rtxPayloadType(ctx.CodecParameters(), c.PayloadType); ok {
					b.rtxSSRC, b.rtxPT = uint32(ctx.SSRCRetransmission()), pt
				}
			}
			for _, ext := range ctx.HeaderExtensions() {
				if ext.URI == sdp.ABSSendTimeURI && d.kind == kindVideo && ext.ID > 0 && ext.ID < 15 {
					b.absSendTime = uint8(ext.ID)
				}
			}
			d.binding.Store(b)
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, fmt.Errorf("bind %s track: %w: client did not accept %s",
		d.Kind(), ErrBadSDP, d.codec.MimeType)
}

// Unbind implements webrtc.TrackLocal.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.binding.Store(nil)
	return nil
}

// ID implements webrtc.TrackLocal.
func (d *downTrack) ID() string { return d.Kind().String() }

// RID implements webrtc.TrackLocal; the server sends no simulcast.
func (d *downTrack) RID() string { return "" }

// StreamID implements webrtc.TrackLocal: both tracks form one "partner" stream.
func (d *downTrack) StreamID() string { return "partner" }

// Kind implements webrtc.TrackLocal.
func (d *downTrack) Kind() webrtc.RTPCodecType {
	if d.kind == kindVideo {
		return webrtc.RTPCodecTypeVideo
	}
	return webrtc.RTPCodecTypeAudio
}

// reset forgets the current source, so the next packet from the (new) partner starts a new
// source: continuous numbering and, for video, a wait for a keyframe. Taking mu also makes
// reset a barrier: a forward that passed the partner check before reset has finished its
// rewrite when reset returns.
func (d *downTrack) reset() {
	d.mu.Lock()
	d.src = nil
	d.resetAt = time.Now().UnixNano()
	if d.kind == kindVideo {
		d.clock.start(d.resetAt)
	}
	d.mu.Unlock()
}

// forward rewrites pkt (in place: the caller owns it) from up, the receiving peer's partner,
// and writes it to the client. It drops the packet if up's peer is not the partner, if a video
// switch still waits for a keyframe, if the packet predates the switch, or if video to the
// client is paused. Zero allocations.
func (d *downTrack) forward(up *upTrack, pkt *rtp.Packet, now int64) {
	if d.kind == kindVideo && d.peer.downlink.paused.Load() {
		d.peer.sfu.counters.videoPausedDrops.Add(1) // the client's downlink is too weak (bitrate.go)
		return
	}
	d.mu.Lock()
	if d.peer.partner.Load() != up.peer {
		d.mu.Unlock()
		return
	}
	var switchLatency int64 = -1 // set when this packet completes a partner switch
	var replayed replayResult    // set when the switch replayed up's cached group (gopcache.go)
	first := up != d.src
	if first {
		key := d.kind != kindVideo || d.peer.sfu.codec.isKeyframe(pkt.Payload)
		if !key && d.src == nil {
			replayed = d.replayLocked(up, now)
		}
		if !key && !replayed.ok {
			d.mu.Unlock()
			d.peer.sfu.counters.videoHeld.Add(1)
			up.peer.requestKeyframe(false)
			return
		}
		if d.kind == kindVideo {
			d.peer.sfu.counters.keyframeSwitches.Add(1)
			if d.src == nil {
				switchLatency = now - d.resetAt
			}
		}
		if key {
			d.rw.switchSource(pkt.SequenceNumber, pkt.Timestamp, now)
			if d.mungeVP8 {
				d.vp8.switchSource(pkt.Payload)
			}
		}
		first = key // after a replay, this packet continues the replayed group
		d.src = up
	}
	seq, ts, ok := d.rw.rewrite(pkt.SequenceNumber, pkt.Timestamp, now)
	stage, mark := stageNone, playoutNone
	if ok && d.kind == kindVideo {
		stage = d.clock.packet(up, pkt, first, now)
		mark = d.playout.packet(first, now, d.peer.sfu.cfg.SwitchLowLatency)
	}
	if ok && d.mungeVP8 {
		d.vp8.rewrite(pkt.Payload)
	}
	d.mu.Unlock()
	if replayed.done {
		d.reportSwitch(replayed.timeline)
	}
	if !ok {
		return
	}
	d.write(pkt, seq, ts, now, mark)
	if stage != stageNone {
		d.switchWritten(stage, up)
	}
	if switchLatency >= 0 && d.peer.sfu.cfg.OnVideoSwitch != nil {
		d.peer.sfu.cfg.OnVideoSwitch(time.Duration(switchLatency))
	}
}

// write sends the rewritten packet on the bound stream. The sender's header extensions are
// dropped (their ids were negotiated with the sender, not with this client); video carries the
// server's abs-send-time instead, and the playout delay of mark if the client negotiated it.
func (d *downTrack) write(pkt *rtp.Packet, seq uint16, ts uint32, now int64, mark playoutMark) {
	b := d.binding.Load()
	if b == nil {
		return
	}
	h := &pkt.Header
	h.SSRC = b.ssrc
	h.PayloadType = b.payloadType
	h.SequenceNumber = seq
	h.Timestamp = ts
	h.Extension = false
	h.Extensions = h.Extensions[:0]
	if mark != playoutNone && b.playoutExt != 0 {
		setPlayoutDelay(h, b.playoutExt, mark)
	}
	h.CSRC = h.CSRC[:0]
	if b.absSendTime != 0 {
		ext := extScratches.Get().(*extScratch)
		defer extScratches.Put(ext)
		setAbsSendTime(h, b.absSendTime, ext, now)
	}
	if pkt.PaddingSize != 0 && h.PaddingSize == 0 {
		h.PaddingSize = pkt.PaddingSize
	}
	if d.kind == kindVideo {
		d.cache.store(h, pkt.Payload)
	}
	d.tx.packet(ts, len(pkt.Payload), now)
	if err := d.peer.sendRTP(b.writer, h, pkt.Payload); err != nil {
		return // the PC is closing or the client is gone; OnFailed reports real failures
	}
	size := h.MarshalSize() + len(pkt.Payload)
	d.peer.stats.packetsOut.Add(1)
	d.peer.stats.out.add(now, size)
	d.peer.sfu.counters.forwarded(d.kind, len(pkt.Payload))
}

// handleRTCP acts on the client's feedback about this track (see routeRTCP): keyframe
// requests go (throttled) to the current partner, receiver reports feed the peer's jitter and
// RTT.
func (d *downTrack) handleRTCP(pkt rtcp.Packet) {
	counters := &d.peer.sfu.counters
	switch p := pkt.(type) {
	case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
		counters.keyframeRequests.Add(1)
		if partner := d.peer.partner.Load(); partner != nil && d.kind == kindVideo {
			partner.requestKeyframe(false)
		}
	case *rtcp.ReceiverReport:
		d.receiverReport(p.Reports, time.Now())
	case *rtcp.SenderReport:
		d.receiverReport(p.Reports, time.Now())
	}
}

// retransmit resends the packets a NACK asks for that are still cached, each at most once per
// resend gap (half the client's round trip) and within the cache's credit, on the RTX stream if the client negotiated
// one; refusals are counted by cause. buf must hold rtxOSNLen+maxCachedPayload bytes.
func (d *downTrack) retransmit(nack *rtcp.TransportLayerNack, h *rtp.Header, buf []byte) {
	b := d.binding.Load()
	if b == nil || nack.MediaSSRC != b.ssrc {
		return
	}
	counters := &d.peer.sfu.counters
	now := cacheNow()
	gap := resendGap(math.Float64frombits(d.peer.stats.rttBits.Load()))
	ext := extScratches.Get().(*extScratch)
	defer extScratches.Put(ext)
	var resent, dup, over, rtx uint64
	for _, pair := range nack.Nacks {
		pair.Range(func(seq uint16) bool {
			payload, r := d.cache.load(seq, now, gap, h, buf[rtxOSNLen:])
			switch r {
			case duplicate:
				dup++
			case overBudget:
				over++
			case loaded:
				if b.rtxSSRC != 0 {
					payload = wrapRTX(h, buf, len(payload), b.rtxPT, b.rtxSSRC, uint16(d.rtxSeq.Add(1)))
					rtx++
				}
				if b.absSendTime != 0 {
					setAbsSendTime(h, b.absSendTime, ext, time.Now().UnixNano())
				}
				if err := d.peer.sendRTP(b.writer, h, payload); err != nil {
					return false
				}
				resent++
			}
			return true
		})
	}
	counters.retransmissions.Add(resent)
	counters.retransmitsDuplicate.Add(dup)
	counters.retransmitsOverBudget.Add(over)
	counters.rtxSent.Add(rtx)
}

// receiverReport records jitter and round-trip time from the report blocks about this track.
func (d *downTrack) receiverReport(reports []rtcp.ReceptionReport, now time.Time) {
	b := d.binding.Load()
	if b == nil {
		return
	}
	for _, r := range reports {
		if r.SSRC != b.ssrc {
			continue
		}
		jitterMs := float64(r.Jitter) * 1000 / float64(d.codec.ClockRate)
		d.peer.stats.jitterBits.Store(math.Float64bits(jitterMs))
		if rtt, ok := roundTrip(r.LastSenderReport, r.Delay, now); ok {
			d.peer.stats.rttBits.Store(math.Float64bits(float64(rtt) / float64(time.Millisecond)))
		}
	}
}

// roundTrip computes the RTT from a report block's LSR and DLSR (RFC 3550 section 6.4.1),
// all in 1/65536 s units of the middle 32 bits of NTP time.
func roundTrip(lsr, dlsr uint32, now time.Time) (time.Duration, bool) {
	if lsr == 0 {
		return 0, false
	}
	rtt := ntpCompact(now) - lsr - dlsr
	if int32(rtt) < 0 {
		return 0, false
	}
	return time.Duration(uint64(rtt) * uint64(time.Second) >> 16), true
}

// ntpCompact returns the middle 32 bits of the NTP timestamp for t.
func ntpCompact(t time.Time) uint32 {
	return uint32(ntpTime(t) >> 16)
}
