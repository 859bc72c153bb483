package sfu

import (
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// A bridged peer stands for a partner held by another instance of a cluster.
// It is a Peer without a PeerConnection, so Pair and Unpair treat it like any
// partner: the local peer's up tracks forward into its downTracks (rewritten
// as for a client, keyframe gate included), whose packets go out over the
// cluster's media bridge; the partner's packets arrive through Deliver and
// are forwarded into the local peer's downTracks exactly like a local
// partner's. Its keyframe requests go to the partner's instance.
//
// Feedback crosses the bridge as it would between a client and the server,
// each instance doing the part it would do for a client (bridgefeedback.go):
// the receiving instance NACKs the video packets lost on the bridge (its
// bridged peer's up track counts the bridged sequence numbers like a
// client's), and the sending instance answers from its bridged peer's video
// cache; the receiving instance sends the cap its user's downlink puts on
// the partner's sender, which the sending instance passes on to its client
// as a REMB.

// BridgeOut is where a bridged peer sends: the packets for the partner's
// instance, keyframe requests and feedback for the partner. Its methods are
// called on forwarding goroutines and the bridged peer's own: they must not
// block and should not allocate.
type BridgeOut interface {
	// SendRTP sends one marshalled RTP packet (video or audio) to the partner.
	SendRTP(video bool, pkt []byte)
	// RequestKeyframe asks the partner's instance for a keyframe from the partner.
	RequestKeyframe()
	// SendFeedback sends the partner's instance one marshalled RTCP packet about
	// the partner's media: a NACK, or the bitrate cap as a REMB. The other
	// instance hands it to HandleFeedback of its bridged peer for this
	// instance's user.
	SendFeedback(pkt []byte)
}

// BridgedPeer is a partner on another instance. Deliver and HandleFeedback
// are called by the one goroutine that reads the bridge's socket (a poller of
// the SFU's, or the bridge's own reader); Close by its owner, once.
type BridgedPeer struct {
	*Peer
	pkt  rtp.Packet // Deliver's, on the bridge socket's reader only
	stop chan struct{}
	done chan struct{}
}

// NewBridgedPeer returns a peer standing for the partner id held by another
// instance, sending through out. It runs one goroutine (keyframe requests,
// NACKs and the bitrate cap toward the partner's instance) until Close.
func (s *SFU) NewBridgedPeer(id string, out BridgeOut) *BridgedPeer {
	p := s.NewPeer(id, PeerEvents{})
	p.remoteCap = new(remoteCap)
	for kind, d := range p.down {
		w := &bridgeWriter{out: out, video: kind == kindVideo}
		d.binding.Store(&trackBinding{ssrc: uint32(kind + 1), payloadType: 96, writer: w})
	}
	b := &BridgedPeer{Peer: p, stop: make(chan struct{}), done: make(chan struct{})}
	go b.run(out)
	return b
}

// run is the bridged peer's goroutine, its counterpart of a client peer's
// control goroutine: it sends the keyframe requests made of this peer (by
// the local partner's downTrack, or its client's PLI), NACKs for the video
// packets lost on the bridge (when a gap opens, and every feedbackInterval
// while some are still missing: unlike a client's, a bridged peer sends no
// periodic congestion feedback, so it has no tick to wake for when the
// bridge loses nothing) and the cap the local partner's downlink puts on
// the partner's sender (when it changes, and every reportInterval).
func (b *BridgedPeer) run(out BridgeOut) {
	defer close(b.done)
	reports := time.NewTicker(reportInterval)
	defer reports.Stop()
	retry := time.NewTimer(feedbackInterval) // armed while NACKs are pending
	retry.Stop()
	defer retry.Stop()
	var seqs []uint16
	var asked bool
	for {
		select {
		case <-b.stop:
			return
		case <-b.keyframeReq:
			out.RequestKeyframe()
		case <-b.nackReq:
			if seqs, asked = b.sendBridgeNACKs(out, seqs); asked {
				retry.Reset(feedbackInterval)
			}
		case <-retry.C:
			if seqs, asked = b.sendBridgeNACKs(out, seqs); asked {
				retry.Reset(feedbackInterval)
			}
		case <-b.capReq:
			b.sendBridgeCap(out)
		case <-reports.C:
			b.sendBridgeCap(out)
		}
	}
}

// Deliver takes one RTP packet the partner sent (over the bridge) and
// forwards it to the local partner like a local client's packet. pkt is
// used only during the call.
func (b *BridgedPeer) Deliver(video bool, pkt []byte) {
	if err := b.pkt.Unmarshal(pkt); err != nil {
		return
	}
	kind := kindAudio
	if video {
		kind = kindVideo
	}
	up := b.up[kind].Load()
	if up == nil || up.ssrc != b.pkt.SSRC {
		up = newUpTrack(b.Peer, kind, b.pkt.SSRC)
		up.start()
	}
	up.handle(&b.pkt, len(pkt), time.Now().UnixNano())
}

// Close parts the peer from its local partner and ends its goroutine.
func (b *BridgedPeer) Close() {
	b.Peer.Close()
	close(b.stop)
	<-b.done
}

// RequestKeyframe asks p's client for a keyframe now (for a partner on
// another instance, whose downTrack waits for one).
func (p *Peer) RequestKeyframe() { p.requestKeyframe(true) }

// bridgeWriter is a bridged peer's downTrack writer: it marshals each
// rewritten packet into a pooled buffer and hands it to the bridge. Writes
// may come from the old and the new source around a switch, and
// retransmissions from the bridge socket's reader; no lock is held across
// the bridge's write.
type bridgeWriter struct {
	out   BridgeOut
	video bool
}

// bridgeBuf is one marshalled packet on its way to the bridge.
type bridgeBuf [1500]byte

var bridgeBufs = sync.Pool{New: func() any { return new(bridgeBuf) }}

// WriteRTP implements webrtc.TrackLocalWriter.
func (w *bridgeWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	buf := bridgeBufs.Get().(*bridgeBuf)
	defer bridgeBufs.Put(buf)
	n, err := h.MarshalTo(buf[:])
	if err != nil {
		return 0, err
	}
	if n+len(payload) > len(buf) {
		return 0, nil // larger than the bridge carries: dropped
	}
	n += copy(buf[n:], payload)
	w.out.SendRTP(w.video, buf[:n])
	return n, nil
}

// Write implements webrtc.TrackLocalWriter for a marshalled packet.
func (w *bridgeWriter) Write(b []byte) (int, error) {
	w.out.SendRTP(w.video, b)
	return len(b), nil
}

var _ webrtc.TrackLocalWriter = (*bridgeWriter)(nil)
