package sfu

import (
	"fmt"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/tandemchat/tandem/sfu/transport"
)

// HandleOffer answers a client offer. The first offer creates the PeerConnection with the
// server's audio and video tracks attached to the offer's transceivers; later offers
// renegotiate it (an ICE restart included). Offers without an audio and a video section
// carrying the configured codecs return an error wrapping ErrBadSDP. Safe for concurrent use,
// but offers from one client should be handled in order.
func (p *Peer) HandleOffer(offer string) (string, error) {
	parsed, err := p.checkOffer(offer)
	if err != nil {
		return "", err
	}
	offer, refused := p.sfu.remotes.stripCandidates(offer)
	p.sfu.counters.candidatesRefused.Add(uint64(refused))
	pc, rx, created, err := p.peerConnection()
	if err != nil {
		return "", err
	}
	answer, err := p.negotiate(pc, offer, created)
	if err != nil {
		if created {
			// A PC that never got a valid first offer is useless: drop it so the next
			// offer starts fresh.
			p.discardPeerConnection(pc)
		}
		return "", err
	}
	rx.setParams(parsed, p.sfu.codec)
	return answer, nil
}

// negotiate applies the offer, attaches the server tracks after a first offer, and returns the
// answer. Candidates trickle through PeerEvents.OnICECandidate.
func (p *Peer) negotiate(pc *webrtc.PeerConnection, offer string, first bool) (string, error) {
	desc := webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}
	if err := pc.SetRemoteDescription(desc); err != nil {
		return "", fmt.Errorf("set remote offer: %w: %w", ErrBadSDP, err)
	}
	if first {
		if err := p.attachDownTracks(pc); err != nil {
			return "", err
		}
		p.applyPendingCandidates(pc)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("create answer: %w: %w", ErrBadSDP, err)
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("set local answer: %w", err)
	}
	if first {
		if err := p.checkGathered(pc); err != nil {
			return "", err
		}
	}
	return answer.SDP, nil
}

// gatherWait bounds how long a first offer waits for the server's own candidates. They are
// host candidates only (the server has no STUN or TURN servers of its own), gathered in
// milliseconds; the bound only keeps a stuck gatherer from holding the offer.
const gatherWait = 2 * time.Second

// checkGathered waits until pc gathered its candidates and returns an error wrapping
// ErrNoMediaPort when there is none: with the UDP port range exhausted, Pion logs a warning
// and would answer with nothing to connect to. With the muxed UDP port, sockets are shared and
// never run out, so nothing is checked.
func (p *Peer) checkGathered(pc *webrtc.PeerConnection) error {
	if p.sfu.udpMux != nil {
		return nil
	}
	select {
	case <-webrtc.GatheringCompletePromise(pc):
	case <-time.After(gatherWait):
		return nil // still gathering: let the trickled candidates decide
	}
	if local := pc.LocalDescription(); local != nil && strings.Contains(local.SDP, "a=candidate:") {
		return nil
	}
	p.sfu.counters.noMediaPort.Add(1)
	return fmt.Errorf("ports %d-%d: %w", p.sfu.cfg.UDPPortMin, p.sfu.cfg.UDPPortMax, ErrNoMediaPort)
}

// attachDownTracks adds the server's two tracks to the offer's transceivers (making them
// sendrecv, or sendonly for a recvonly client) and starts an RTCP reader per sender, which
// feeds the peer's RTCP router (rtcprouter.go).
func (p *Peer) attachDownTracks(pc *webrtc.PeerConnection) error {
	for _, dt := range p.down {
		sender, err := pc.AddTrack(dt)
		if err != nil {
			return fmt.Errorf("add %s track: %w", dt.Kind(), err)
		}
		if !p.goroutine(func() { p.readRTCP(sender.Read) }) {
			return ErrClosed
		}
	}
	return nil
}

// applyPendingCandidates adds the candidates queued before the first offer.
func (p *Peer) applyPendingCandidates(pc *webrtc.PeerConnection) {
	p.mu.Lock()
	pending := p.pending
	p.pending = nil
	p.remoteSet = true
	p.mu.Unlock()
	for _, c := range pending {
		if err := pc.AddICECandidate(c); err != nil {
			p.sfu.log.Debug("queued ice candidate refused", "peer", p.id, "err", err)
		}
	}
}

// MaxOfferBytes and MaxMediaSections cap what an offer may hold; larger offers are refused
// with ErrBadSDP before they are parsed, so an offer costs little CPU however it is built.
const (
	MaxOfferBytes    = 16 << 10
	MaxMediaSections = 8
)

// checkOffer parses the SDP and makes sure it has an audio section offering Opus and a video
// section offering the configured video codec, so both server tracks can be attached.
// It returns the parsed offer.
func (p *Peer) checkOffer(offer string) (*sdp.SessionDescription, error) {
	if strings.TrimSpace(offer) == "" {
		return nil, fmt.Errorf("%w: offer is empty", ErrBadSDP)
	}
	// Cheap caps before the parser: a browser's offer for one audio and one video section
	// (and a data channel) is 3-7 KB.
	if len(offer) > MaxOfferBytes {
		return nil, fmt.Errorf("%w: offer is %d bytes, at most %d accepted", ErrBadSDP, len(offer), MaxOfferBytes)
	}
	if n := strings.Count(offer, "\nm="); n > MaxMediaSections {
		return nil, fmt.Errorf("%w: offer has %d media sections, at most %d accepted", ErrBadSDP, n, MaxMediaSections)
	}
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(offer); err != nil {
		return nil, fmt.Errorf("%w: offer is not valid SDP: %w", ErrBadSDP, err)
	}
	want := [numKinds]string{
		kindAudio: codecName(p.sfu.codec.audio.MimeType),
		kindVideo: codecName(p.sfu.codec.video.MimeType),
	}
	var sections, found [numKinds]bool
	for _, md := range parsed.MediaDescriptions {
		kind := mediaKind(md.MediaName.Media)
		if kind < 0 || md.MediaName.Port.Value == 0 {
			continue
		}
		sections[kind] = true
		if offersCodec(md, want[kind]) {
			found[kind] = true
		}
	}
	var problems []string
	for kind, name := range want {
		kindName := [numKinds]string{"audio", "video"}[kind]
		switch {
		case !sections[kind]:
			problems = append(problems, fmt.Sprintf("no %s section (add a transceiver of that kind; recvonly is fine)", kindName))
		case !found[kind]:
			problems = append(problems, fmt.Sprintf("%s section does not offer %s", kindName, name))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrBadSDP, strings.Join(problems, "; "))
	}
	return &parsed, nil
}

// offersCodec reports whether a media section has an rtpmap for the codec name.
func offersCodec(md *sdp.MediaDescription, name string) bool {
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		_, enc, ok := strings.Cut(a.Value, " ")
		if !ok {
			continue
		}
		codec, _, _ := strings.Cut(enc, "/")
		if strings.EqualFold(codec, name) {
			return true
		}
	}
	return false
}

// codecName turns "video/VP8" into "VP8".
func codecName(mime string) string {
	_, name, _ := strings.Cut(mime, "/")
	return name
}

// peerConnection returns the peer's PeerConnection and its receiver, creating them (and the
// connection's transport; reporting created) on the first call.
func (p *Peer) peerConnection() (pc *webrtc.PeerConnection, rx *receiver, created bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, nil, false, ErrClosed
	}
	if p.pc != nil {
		return p.pc, p.rx, false, nil
	}
	rx = newReceiver(p)
	conn := p.sfu.transport.NewConn(rx, p.sfu.log.With("peer", p.id))
	api, err := p.sfu.peerAPI(conn)
	if err != nil {
		return nil, nil, false, err
	}
	pc, err = api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, nil, false, fmt.Errorf("new peer connection: %w", err)
	}
	p.pc, p.rx = pc, rx
	p.conn.Store(conn)
	p.done = make(chan struct{})
	// A new PeerConnection starts with a clean slate: a failure of a previous one is not this
	// one's, and this one's first failure is reported.
	p.current.Store(pc)
	p.connState.Store(int32(webrtc.PeerConnectionStateNew))
	select {
	case <-p.stateChange:
	default:
	}
	p.failing.Store(false)
	p.sfu.counters.peers.Add(1)
	p.installHandlers(pc, rx, conn)
	p.startControlLocked(pc, rx, p.done)
	return pc, rx, true, nil
}

// discardPeerConnection closes a PeerConnection whose first offer failed and forgets it.
func (p *Peer) discardPeerConnection(pc *webrtc.PeerConnection) {
	p.mu.Lock()
	if p.pc != pc || p.closed {
		p.mu.Unlock()
		return
	}
	p.pc, p.rx = nil, nil
	p.current.CompareAndSwap(pc, nil)
	conn := p.conn.Swap(nil)
	p.remoteSet = false
	done := p.done
	p.done = nil
	p.mu.Unlock()
	close(done)
	if err := pc.GracefulClose(); err != nil {
		p.sfu.log.Debug("discard peer connection", "peer", p.id, "err", err)
	}
	conn.Close()
	p.wg.Wait()
	p.sfu.counters.peers.Add(-1)
}

// installHandlers wires the PeerConnection's callbacks to the Peer, its receiver rx and its
// transport conn. The callbacks act only while pc is the Peer's current PeerConnection.
func (p *Peer) installHandlers(pc *webrtc.PeerConnection, rx *receiver, conn *transport.Conn) {
	pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(conn.SelectPair)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil || p.ev.OnICECandidate == nil || p.current.Load() != pc {
			return
		}
		p.ev.OnICECandidate(c.ToJSON())
	})
	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		if p.current.Load() != pc {
			return // a discarded PeerConnection closing: not this peer's media failing
		}
		p.connState.Store(int32(state))
		select {
		case p.stateChange <- struct{}{}:
		default:
		}
	})
	pc.OnTrack(func(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
		if p.current.Load() != pc {
			return
		}
		kind := kindAudio
		if track.Kind() == webrtc.RTPCodecTypeVideo {
			kind = kindVideo
		}
		up := newUpTrack(p, kind, uint32(track.SSRC()))
		if !p.goroutine(func() { up.run(track, rx) }) {
			return
		}
		p.goroutine(func() { p.readRTCP(receiver.Read) })
	})
}
