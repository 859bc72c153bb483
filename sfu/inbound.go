package sfu

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// inbound is a peer's fast receive path. Pion's own receive path hands every packet through
// four goroutines and three buffer copies (ICE read loop, DTLS/SRTP demultiplexer, SRTP
// session, track read) before the SFU sees it, which cost more CPU per forwarded packet than
// all the rest (docs/performance.md). inbound decrypts the client's SRTP and SRTCP on the
// goroutine that reads the socket (a poller's, or ICE's read goroutine for a mediaConn), with
// the keys keyCapture rebuilt, and calls the up track and RTCP handlers directly: one
// goroutine, one copy.
//
// Packets inbound does not take go through Pion as before, to the OnTrack and RTCP readers of
// negotiation.go: media before the keys are known and every packet if the keys never are. On
// the muxed UDP port and ICE over TCP the packets reach inbound too (muxRoutes and muxConn
// hand them over), so those transports take the fast path as well.
//
// Concurrency: take runs on the goroutine that reads each of the peer's sockets (usually
// one); mu guards the SRTP context, and is never held across a network write.
type inbound struct {
	peer  *Peer
	keys  keyCapture
	start time.Time // TWCC arrival times are relative to it

	params   atomic.Pointer[inboundParams]
	verified atomic.Bool // a packet authenticated with the captured keys: they are right

	mu  sync.Mutex    // also serialises the creation of up tracks
	ctx *srtp.Context // decrypts what the client sends; nil until the keys are known

	twccMu sync.Mutex
	twcc   *twcc.Recorder // feedback about the client's packets, sent by the control goroutine
}

// SRTP replay windows of the fast path. Video retransmissions reuse the original sequence
// number (no RTX), so the RTP window must cover a NACK round trip: 256 packets are about a
// second of 2.5 Mbps video (Pion's default of 64 is a quarter of that). The window is shifted
// on every packet, so it is not made larger than needed.
const (
	srtpReplayWindow  = 256
	srtcpReplayWindow = 64
)

func newInbound(p *Peer) *inbound {
	// keys.ready is set by Peer.peerConnection, which arms both directions at once.
	return &inbound{peer: p, start: time.Now(), twcc: twcc.NewRecorder(rand.Uint32())}
}

// setKeys arms the fast path with the association's keys (called by keyCapture).
func (in *inbound) setKeys(k srtpKeys) {
	// Cryptex (RFC 9335, encrypted header extensions) is accepted but not required, as Pion
	// does when the offer negotiates it; clients that do not use it send plain extensions.
	ctx, err := srtp.CreateContext(k.keys.RemoteMasterKey, k.keys.RemoteMasterSalt, k.profile,
		srtp.SRTPReplayProtection(srtpReplayWindow), srtp.SRTCPReplayProtection(srtcpReplayWindow),
		srtp.Cryptex(srtp.CryptexModeEnabled))
	if err != nil {
		in.peer.sfu.log.Debug("fast path off: srtp context", "peer", in.peer.id, "err", err)
		return
	}
	in.mu.Lock()
	in.ctx = ctx
	in.mu.Unlock()
}

// inboundParams are what the latest offer negotiated for the client's RTP.
type inboundParams struct {
	kindOfPT [128]int8 // media kind of each payload type of the configured codecs; -1 for others
	twccExt  uint8     // id of the transport-wide sequence number extension; 0 if none
}

// setParams records the payload types and TWCC extension id of an offer the PeerConnection
// accepted.
func (in *inbound) setParams(offer *sdp.SessionDescription, codecs codecSet) {
	params := &inboundParams{}
	for i := range params.kindOfPT {
		params.kindOfPT[i] = -1
	}
	want := [numKinds]string{
		kindAudio: codecName(codecs.audio.MimeType),
		kindVideo: codecName(codecs.video.MimeType),
	}
	for _, md := range offer.MediaDescriptions {
		kind := mediaKind(md.MediaName.Media)
		if kind < 0 {
			continue
		}
		for _, a := range md.Attributes {
			switch a.Key {
			case "rtpmap":
				if pt, name, ok := parseRTPMap(a.Value); ok && strings.EqualFold(name, want[kind]) {
					params.kindOfPT[pt] = int8(kind)
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
	in.params.Store(params)
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

// inboundScratch is the working memory of one reading goroutine (a poller, or a mediaConn's
// reader).
type inboundScratch struct {
	plain     [1500]byte // the decrypted packet
	hdr       rtp.Header
	rtcpHdr   rtcp.Header
	pkt       rtp.Packet
	resend    rtp.Header
	resendBuf [maxCachedPayload]byte
}

// take handles b if it is the client's SRTP or SRTCP and the keys are known, and reports
// whether it did; if not, the caller passes b on to Pion. Once a packet has authenticated,
// packets that fail to (forged, replayed) are dropped here instead.
func (in *inbound) take(b []byte, s *inboundScratch) bool { return in.takePacket(b, s, true) }

// takeFrom implements packetTaker for a socket of the peer's own.
// A packet for Pion from a refused address is taken too, and so dropped.
func (in *inbound) takeFrom(b []byte, from netip.AddrPort, s *inboundScratch) bool {
	return in.takePacket(b, s, true) || in.peer.sfu.refusesSource(from)
}

// tryTake is take for a packet that may not be this client's at all (see muxRoutes): one that
// does not authenticate is always passed on, never dropped.
func (in *inbound) tryTake(b []byte, s *inboundScratch) bool { return in.takePacket(b, s, false) }

func (in *inbound) takePacket(b []byte, s *inboundScratch, dropForged bool) bool {
	if len(b) < 8 || b[0] < 128 || b[0] > 191 {
		return false // STUN, DTLS or TURN channel data (RFC 7983)
	}
	if b[1] >= 192 && b[1] <= 223 {
		return in.takeRTCP(b, s, dropForged)
	}
	return in.takeRTP(b, s, dropForged)
}

// takeRTP decrypts one RTP packet and hands it to its up track.
func (in *inbound) takeRTP(b []byte, s *inboundScratch, dropForged bool) bool {
	params := in.params.Load()
	in.mu.Lock()
	if in.ctx == nil || params == nil {
		in.mu.Unlock()
		return false
	}
	plain, err := in.ctx.DecryptRTP(s.plain[:0], b, &s.hdr)
	if err != nil {
		in.mu.Unlock()
		return dropForged && in.verified.Load()
	}
	up := in.upTrackLocked(params, &s.hdr)
	in.mu.Unlock()
	in.verified.Store(true)
	in.peer.sfu.counters.fastPath.Add(1)
	if up == nil || s.pkt.Unmarshal(plain) != nil {
		return true
	}
	now := time.Now().UnixNano()
	in.recordTWCC(&s.pkt.Header, now)
	up.handle(&s.pkt, len(plain), now)
	return true
}

// upTrackLocked returns the peer's up track for a packet's payload type and SSRC, starting a
// new one for a new SSRC; nil for a payload type of no configured codec. Must be called with
// in.mu held.
func (in *inbound) upTrackLocked(params *inboundParams, h *rtp.Header) *upTrack {
	kind := params.kindOfPT[h.PayloadType&0x7f]
	if kind < 0 {
		return nil
	}
	if up := in.peer.up[kind].Load(); up != nil && up.ssrc == h.SSRC {
		return up
	}
	up := newUpTrack(in.peer, int(kind), h.SSRC)
	up.start()
	return up
}

// recordTWCC notes the packet's transport-wide sequence number for the next feedback. Packets
// from both receive paths are recorded.
func (in *inbound) recordTWCC(h *rtp.Header, now int64) {
	params := in.params.Load()
	if params == nil || params.twccExt == 0 {
		return
	}
	ext := h.GetExtension(params.twccExt)
	if len(ext) < 2 {
		return
	}
	arrival := (now - in.start.UnixNano()) / 1000
	in.twccMu.Lock()
	in.twcc.Record(h.SSRC, binary.BigEndian.Uint16(ext), arrival)
	in.twccMu.Unlock()
}

// sendTWCC sends the transport-wide congestion control feedback gathered since the last
// call, if any. Called by the control goroutine.
func (in *inbound) sendTWCC(pc *webrtc.PeerConnection) {
	in.twccMu.Lock()
	var pkts []rtcp.Packet
	if in.twcc.PacketsHeld() > 0 {
		pkts = in.twcc.BuildFeedbackPacket()
	}
	in.twccMu.Unlock()
	if len(pkts) == 0 {
		return
	}
	if err := in.peer.writeRTCP(pc, pkts); err != nil {
		in.peer.sfu.log.Debug("send twcc feedback", "peer", in.peer.id, "err", err)
	}
}

// takeRTCP decrypts one compound RTCP packet and hands each part to its handler.
func (in *inbound) takeRTCP(b []byte, s *inboundScratch, dropForged bool) bool {
	in.mu.Lock()
	if in.ctx == nil {
		in.mu.Unlock()
		return false
	}
	plain, err := in.ctx.DecryptRTCP(s.plain[:0], b, &s.rtcpHdr)
	in.mu.Unlock()
	if err != nil {
		return dropForged && in.verified.Load()
	}
	in.verified.Store(true)
	in.peer.sfu.counters.fastPath.Add(1)
	pkts, err := rtcp.Unmarshal(plain)
	if err != nil {
		return true
	}
	for _, pkt := range pkts {
		in.handleRTCP(pkt, s)
	}
	return true
}

// handleRTCP routes one RTCP packet from the client: feedback about the streams the server
// sends goes to the down track it names, sender reports about the client's own streams to
// the up track.
func (in *inbound) handleRTCP(pkt rtcp.Packet, s *inboundScratch) {
	p := in.peer
	switch pk := pkt.(type) {
	case *rtcp.TransportLayerNack:
		if d := p.downTrackBySSRC(pk.MediaSSRC); d != nil {
			p.sfu.counters.nacksReceived.Add(1)
			d.retransmit(pk, &s.resend, s.resendBuf[:])
		}
	case *rtcp.PictureLossIndication:
		if d := p.downTrackBySSRC(pk.MediaSSRC); d != nil {
			d.handleRTCP(pk)
		}
	case *rtcp.FullIntraRequest:
		p.down[kindVideo].handleRTCP(pk)
	case *rtcp.ReceiverReport:
		for _, d := range p.down {
			d.handleRTCP(pk)
		}
	case *rtcp.SenderReport:
		for _, d := range p.down {
			d.handleRTCP(pk)
		}
		for kind := range p.up {
			if up := p.up[kind].Load(); up != nil && up.ssrc == pk.SSRC {
				up.rx.senderReport(pk.NTPTime, time.Now().UnixNano())
			}
		}
	}
}

// downTrackBySSRC returns the down track the server sends with ssrc, or nil.
func (p *Peer) downTrackBySSRC(ssrc uint32) *downTrack {
	for _, d := range p.down {
		if b := d.binding.Load(); b != nil && b.ssrc == ssrc {
			return d
		}
	}
	return nil
}
