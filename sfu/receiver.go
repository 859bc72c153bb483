package sfu

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// receiver is where the client's media of one PeerConnection arrives, whichever way it came:
// the transport's fast path (sfu/transport, which calls HandleRTP and HandleRTCP on the
// goroutine that read the socket) or Pion's receive path (upTrack.run and the RTCP readers of
// negotiation.go). It finds the up track of each RTP packet, records transport-wide sequence
// numbers for the congestion control feedback, and hands RTCP to the peer's one RTCP router
// (rtcprouter.go).
//
// Concurrency: HandleRTP and HandleRTCP run on the reading goroutines and take no lock on the
// usual path (a new SSRC takes newUpMu); twccMu guards the recorder, also used by the control
// goroutine.
type receiver struct {
	peer  *Peer
	start time.Time // TWCC arrival times are relative to it

	params  atomic.Pointer[receiveParams]
	newUpMu sync.Mutex // serialises the creation of up tracks

	twccMu sync.Mutex
	twcc   *twcc.Recorder // feedback about the client's packets, sent by the control goroutine
}

func newReceiver(p *Peer) *receiver {
	return &receiver{peer: p, start: time.Now(), twcc: twcc.NewRecorder(rand.Uint32())}
}

// receiveParams are what the latest offer negotiated for the client's RTP.
type receiveParams struct {
	kindOfPT [128]int8 // media kind of each payload type of the configured codecs; -1 for others
	// aptOf maps each RTX payload type whose original is the video codec to that original's
	// payload type (rtx.go); 0 for the others.
	aptOf   [128]uint8
	twccExt uint8 // id of the transport-wide sequence number extension; 0 if none
}

// setParams records the payload types and TWCC extension id of an offer the PeerConnection
// accepted. Until the first call the fast path's RTP is dropped (it cannot arrive before:
// the keys come with DTLS, after the answer).
func (r *receiver) setParams(offer *sdp.SessionDescription, codecs codecSet) {
	params := &receiveParams{}
	for i := range params.kindOfPT {
		params.kindOfPT[i] = -1
	}
	want := [numKinds]string{
		kindAudio: codecName(codecs.audio.MimeType),
		kindVideo: codecName(codecs.video.MimeType),
	}
	var rtxPTs [128]bool
	var apts [][2]uint8 // rtx payload type, original, as the offer's fmtp lines say
	for _, md := range offer.MediaDescriptions {
		kind := mediaKind(md.MediaName.Media)
		if kind < 0 {
			continue
		}
		for _, a := range md.Attributes {
			switch a.Key {
			case "rtpmap":
				pt, name, ok := parseRTPMap(a.Value)
				switch {
				case ok && strings.EqualFold(name, want[kind]):
					params.kindOfPT[pt] = int8(kind)
				case ok && kind == kindVideo && strings.EqualFold(name, "rtx"):
					rtxPTs[pt] = true
				}
			case "fmtp":
				if rtx, apt, ok := parseAPT(a.Value); ok && kind == kindVideo {
					apts = append(apts, [2]uint8{rtx, apt})
				}
			case "extmap":
				id, uri, _ := strings.Cut(a.Value, " ")
				id, _, _ = strings.Cut(id, "/")
				uri, _, _ = strings.Cut(uri, " ")
				if n, err := strconv.ParseUint(id, 10, 8); err == nil && uri == sdp.TransportCCURI {
					params.twccExt = uint8(n)
				}
			}
		}
	}
	for _, a := range apts {
		if rtxPTs[a[0]] && params.kindOfPT[a[1]] == kindVideo {
			params.aptOf[a[0]] = a[1]
		}
	}
	r.params.Store(params)
}

// mediaKind maps an SDP media name to a kind index, or -1.
func mediaKind(media string) int {
	switch media {
	case "audio":
		return kindAudio
	case "video":
		return kindVideo
	}
	return -1
}

// parseRTPMap splits an rtpmap value ("96 VP8/90000") into payload type and codec name.
func parseRTPMap(value string) (pt uint8, name string, ok bool) {
	ptStr, enc, found := strings.Cut(value, " ")
	n, err := strconv.ParseUint(ptStr, 10, 7)
	if !found || err != nil {
		return 0, "", false
	}
	name, _, _ = strings.Cut(enc, "/")
	return uint8(n), name, true
}

// HandleRTP implements transport.Sink: one RTP packet the transport decrypted goes to the up
// track of its payload type's kind and SSRC; an RTX packet is unwrapped into the video up
// track's (a padding-only probe is only recorded for the congestion feedback). Zero
// allocations.
func (r *receiver) HandleRTP(pkt *rtp.Packet, size int) {
	if params := r.params.Load(); params != nil && params.aptOf[pkt.PayloadType&0x7f] != 0 {
		r.handleRTX(pkt, size, params.aptOf[pkt.PayloadType&0x7f])
		return
	}
	if up := r.upTrack(&pkt.Header); up != nil {
		r.deliver(up, pkt, size, time.Now().UnixNano())
	}
}

// handleRTX takes one RTX packet of the client's: its original (payload type apt) goes to the
// current video up track, as a late packet of it.
func (r *receiver) handleRTX(pkt *rtp.Packet, size int, apt uint8) {
	now := time.Now().UnixNano()
	r.recordTWCC(&pkt.Header, now)
	up := r.peer.up[kindVideo].Load()
	if up == nil || !unwrapRTX(pkt, apt, up.ssrc) {
		return
	}
	r.peer.sfu.counters.rtxReceived.Add(1)
	up.handle(pkt, size, now)
}

// HandleRTCP implements transport.Sink.
func (r *receiver) HandleRTCP(plain []byte) { r.peer.handleRTCP(plain) }

// deliver is where both receive paths hand the client's RTP to its up track.
func (r *receiver) deliver(up *upTrack, pkt *rtp.Packet, size int, now int64) {
	r.recordTWCC(&pkt.Header, now)
	up.handle(pkt, size, now)
}

// upTrack returns the peer's up track for a packet's payload type and SSRC, starting a new
// one for a new SSRC; nil for a payload type of no configured codec.
func (r *receiver) upTrack(h *rtp.Header) *upTrack {
	params := r.params.Load()
	if params == nil {
		return nil
	}
	kind := params.kindOfPT[h.PayloadType&0x7f]
	if kind < 0 {
		return nil
	}
	if up := r.peer.up[kind].Load(); up != nil && up.ssrc == h.SSRC {
		return up
	}
	r.newUpMu.Lock()
	defer r.newUpMu.Unlock()
	if up := r.peer.up[kind].Load(); up != nil && up.ssrc == h.SSRC {
		return up // another socket's goroutine started it meanwhile
	}
	up := newUpTrack(r.peer, int(kind), h.SSRC)
	up.start()
	return up
}

// recordTWCC notes the packet's transport-wide sequence number for the next feedback.
func (r *receiver) recordTWCC(h *rtp.Header, now int64) {
	params := r.params.Load()
	if params == nil || params.twccExt == 0 {
		return
	}
	ext := h.GetExtension(params.twccExt)
	if len(ext) < 2 {
		return
	}
	arrival := (now - r.start.UnixNano()) / 1000
	r.twccMu.Lock()
	r.twcc.Record(h.SSRC, binary.BigEndian.Uint16(ext), arrival)
	r.twccMu.Unlock()
}

// sendTWCC sends the transport-wide congestion control feedback gathered since the last
// call, if any. Called by the control goroutine.
func (r *receiver) sendTWCC(pc *webrtc.PeerConnection) {
	r.twccMu.Lock()
	var pkts []rtcp.Packet
	if r.twcc.PacketsHeld() > 0 {
		pkts = r.twcc.BuildFeedbackPacket()
	}
	r.twccMu.Unlock()
	if len(pkts) == 0 {
		return
	}
	if err := r.peer.writeRTCP(pc, pkts); err != nil {
		r.peer.sfu.log.Debug("send twcc feedback", "peer", r.peer.id, "err", err)
	}
}
