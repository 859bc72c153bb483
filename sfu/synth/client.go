// Package synth is a synthetic WebRTC client for tests and the load generator: a real Pion
// PeerConnection that sends Opus-like audio and VP8-framed video whose payloads name their
// sender, answers keyframe requests at once, and reports every packet it receives.
//
// Payloads are not decodable media: video packets carry a valid VP8 payload descriptor and a
// keyframe or interframe header (enough for an SFU's keyframe detection), and every payload
// ends with a 12-byte trailer holding the sender's source id and the send time.
package synth

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Options configure a Client.
type Options struct {
	// Source is written into every payload the client sends, so receivers can tell whose
	// media they got. Must not be 0.
	Source uint32
	// Send selects sendrecv transceivers with media; false makes a receive-only client.
	Send bool
	// VideoBitrate in bits per second (default 500 kbps); FPS frames per second (default 30).
	VideoBitrate int
	FPS          int
	// ICEIP is the only local address used for ICE (default 127.0.0.1).
	ICEIP string
	// TCP makes the client use ICE over TCP only (active candidates), like a browser whose
	// network blocks UDP.
	TCP bool
	// OnPacket, if set, is called for every RTP packet received, from the track's reader
	// goroutine. It must not block.
	OnPacket func(Packet)
	// Record keeps every received Packet for Packets (tests; not for long runs).
	Record bool
	// AcceptReplays turns off SRTP replay protection, so a test can see a retransmission
	// of a packet it already received.
	AcceptReplays bool
	// H264 sends H.264 (FU-A packets, IDR keyframes) instead of VP8.
	H264 bool
	// Lean registers only the RTCP report interceptors and the transport-wide sequence
	// numbers (no NACK, TWCC feedback or stats), so one process can run many clients; for
	// load generation.
	Lean bool
	// DropEvery, if above 0, loses every DropEvery-th video packet the client sends on the
	// wire, after its NACK responder kept it, so the server's NACKs repair it (on the RTX
	// stream where negotiated).
	DropEvery int
}

// Client is one synthetic participant. Its methods are safe for concurrent use.
type Client struct {
	opts  Options
	pc    *webrtc.PeerConnection
	audio *webrtc.TrackLocalStaticRTP
	video *webrtc.TrackLocalStaticRTP

	keyframe chan struct{} // capacity 1: send a keyframe now
	done     chan struct{}
	wg       sync.WaitGroup

	mu           sync.Mutex
	answered     bool
	queued       []webrtc.ICECandidateInit
	packets      []Packet
	keyReqs      int
	reports      int     // reception report blocks received about the client's own streams
	twccFeedback int     // transport-wide congestion control feedback packets received
	caps         int     // REMB packets received (bitrate caps from the server)
	lastCap      float32 // the latest one's bitrate
	started      bool
	closed       bool
	onFailedCb   func()
}

// New creates the client's PeerConnection with an audio and a video transceiver.
func New(opts Options) (*Client, error) {
	if opts.Source == 0 {
		return nil, errors.New("synth: Source must not be 0")
	}
	if opts.VideoBitrate <= 0 {
		opts.VideoBitrate = 500_000
	}
	if opts.FPS <= 0 {
		opts.FPS = 30
	}
	if opts.ICEIP == "" {
		opts.ICEIP = "127.0.0.1"
	}
	api, err := newAPI(opts)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("synth: new peer connection: %w", err)
	}
	c := &Client{opts: opts, pc: pc, keyframe: make(chan struct{}, 1), done: make(chan struct{})}
	if err := c.addTransceivers(); err != nil {
		_ = pc.Close()
		return nil, err
	}
	pc.OnTrack(func(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
		var sendTimeID uint8
		for _, ext := range receiver.GetParameters().HeaderExtensions {
			if ext.URI == sdp.ABSSendTimeURI {
				sendTimeID = uint8(ext.ID)
			}
		}
		playoutExt := playoutExtID(receiver.GetParameters().HeaderExtensions)
		c.goroutine(func() { c.readTrack(track, sendTimeID, playoutExt) })
		// Reading the receiver's RTCP lets the report interceptor see the server's sender
		// reports, so the receiver reports we send carry LSR/DLSR (the server's RTT).
		c.goroutine(func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := receiver.Read(buf); err != nil {
					return
				}
			}
		})
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed {
			c.mu.Lock()
			cb := c.onFailedCb
			c.mu.Unlock()
			if cb != nil {
				cb()
			}
		}
	})
	return c, nil
}

// newAPI builds a Pion API like a browser's: Opus and VP8, default interceptors (NACK, reports),
// transport-wide sequence numbers on every packet sent, the absolute send time extension offered
// for video, host candidates on one IP, no mDNS.
func newAPI(opts Options) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("synth: register codecs: %w", err)
	}
	r := &interceptor.Registry{}
	if opts.DropEvery > 0 {
		r.Add(lossFactory{every: opts.DropEvery}) // first: closest to the wire
	}
	register := webrtc.RegisterDefaultInterceptors
	if opts.Lean {
		register = func(_ *webrtc.MediaEngine, r *interceptor.Registry) error { return webrtc.ConfigureRTCPReports(r) }
	}
	if err := register(m, r); err != nil {
		return nil, fmt.Errorf("synth: register interceptors: %w", err)
	}
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, r); err != nil {
		return nil, fmt.Errorf("synth: register twcc sequence numbers: %w", err)
	}
	sendTime := webrtc.RTPHeaderExtensionCapability{URI: sdp.ABSSendTimeURI}
	if err := m.RegisterHeaderExtension(sendTime, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("synth: register abs-send-time: %w", err)
	}
	// As a browser does: the sender may bound how long a received frame waits for display.
	playout := webrtc.RTPHeaderExtensionCapability{URI: PlayoutDelayURI}
	if err := m.RegisterHeaderExtension(playout, webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverDirectionRecvonly); err != nil {
		return nil, fmt.Errorf("synth: register playout delay: %w", err)
	}
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.DisableSRTPReplayProtection(opts.AcceptReplays)
	if opts.TCP {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	}
	want := net.ParseIP(opts.ICEIP)
	se.SetIPFilter(func(got net.IP) bool { return got.Equal(want) })
	if want.IsLoopback() {
		se.SetIncludeLoopbackCandidate(true)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(r),
		webrtc.WithSettingEngine(se)), nil
}

// addTransceivers adds sendrecv audio and video with tracks, or recvonly transceivers.
func (c *Client) addTransceivers() error {
	if !c.opts.Send {
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			_, err := c.pc.AddTransceiverFromKind(kind,
				webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
			if err != nil {
				return fmt.Errorf("synth: add recvonly %s: %w", kind, err)
			}
		}
		return nil
	}
	var err error
	c.audio, err = webrtc.NewTrackLocalStaticRTP(
		webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "synth")
	if err != nil {
		return fmt.Errorf("synth: audio track: %w", err)
	}
	videoCodec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	if c.opts.H264 {
		videoCodec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	}
	c.video, err = webrtc.NewTrackLocalStaticRTP(videoCodec, "video", "synth")
	if err != nil {
		return fmt.Errorf("synth: video track: %w", err)
	}
	audioSender, err := c.pc.AddTrack(c.audio)
	if err != nil {
		return fmt.Errorf("synth: add audio: %w", err)
	}
	videoSender, err := c.pc.AddTrack(c.video)
	if err != nil {
		return fmt.Errorf("synth: add video: %w", err)
	}
	// Both: congestion control feedback names the SSRC of the last packet it covers, and
	// Pion hands it to that stream's sender.
	c.goroutine(func() { c.readSenderRTCP(audioSender) })
	c.goroutine(func() { c.readSenderRTCP(videoSender) })
	return nil
}

// PC returns the client's PeerConnection (for tests that need more control).
func (c *Client) PC() *webrtc.PeerConnection { return c.pc }

// OnFailed sets a callback for the PeerConnection reaching "failed".
func (c *Client) OnFailed(f func()) {
	c.mu.Lock()
	c.onFailedCb = f
	c.mu.Unlock()
}

// OnLocalCandidate sets where the client's trickled candidates go.
func (c *Client) OnLocalCandidate(f func(webrtc.ICECandidateInit)) {
	c.pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			f(cand.ToJSON())
		}
	})
}

// Offer creates an offer, sets it as the local description and returns its SDP.
func (c *Client) Offer(iceRestart bool) (string, error) {
	offer, err := c.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: iceRestart})
	if err != nil {
		return "", fmt.Errorf("synth: create offer: %w", err)
	}
	if err := c.pc.SetLocalDescription(offer); err != nil {
		return "", fmt.Errorf("synth: set local offer: %w", err)
	}
	c.mu.Lock()
	c.answered = false
	c.mu.Unlock()
	return offer.SDP, nil
}

// SetAnswer applies the server's answer and then the remote candidates that arrived before it.
func (c *Client) SetAnswer(sdp string) error {
	err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp})
	if err != nil {
		return fmt.Errorf("synth: set answer: %w", err)
	}
	c.mu.Lock()
	c.answered = true
	queued := c.queued
	c.queued = nil
	c.mu.Unlock()
	for _, cand := range queued {
		if err := c.pc.AddICECandidate(cand); err != nil {
			return fmt.Errorf("synth: add queued candidate: %w", err)
		}
	}
	return nil
}

// AddRemoteCandidate adds a server candidate, queueing it until the answer is applied.
func (c *Client) AddRemoteCandidate(cand webrtc.ICECandidateInit) error {
	c.mu.Lock()
	if !c.answered {
		c.queued = append(c.queued, cand)
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	if err := c.pc.AddICECandidate(cand); err != nil {
		return fmt.Errorf("synth: add candidate: %w", err)
	}
	return nil
}

// Start begins sending media (a no-op for receive-only clients and after the first call).
func (c *Client) Start() {
	c.mu.Lock()
	start := c.opts.Send && !c.started && !c.closed
	c.started = true
	c.mu.Unlock()
	if !start {
		return
	}
	c.goroutine(c.sendAudio)
	c.goroutine(c.sendVideo)
}

// KeyframeRequests returns how many PLI/FIR the client received.
func (c *Client) KeyframeRequests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keyReqs
}

// ReceptionReports returns how many reception report blocks about the client's own streams it
// received (in receiver reports from the server).
func (c *Client) ReceptionReports() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reports
}

// CongestionFeedback returns how many transport-wide congestion control feedback packets
// (about the client's own packets) it received.
func (c *Client) CongestionFeedback() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.twccFeedback
}

// Cap returns the latest bitrate cap (REMB) the client received from the server, in bits per
// second, and how many it received.
func (c *Client) Cap() (bps float32, count int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastCap, c.caps
}

func (c *Client) countReports(blocks []rtcp.ReceptionReport, ssrc uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range blocks {
		if b.SSRC == ssrc {
			c.reports++
		}
	}
}

// Packets returns a copy of the packets received so far (Options.Record).
func (c *Client) Packets() []Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Packet(nil), c.packets...)
}

// Close closes the PeerConnection and waits for the client's goroutines. Idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.done)
	err := c.pc.GracefulClose()
	c.wg.Wait()
	if err != nil {
		return fmt.Errorf("synth: close: %w", err)
	}
	return nil
}

// goroutine runs f as a goroutine Close waits for, unless the client is closed.
func (c *Client) goroutine(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// readSenderRTCP answers PLI and FIR with a keyframe at once and counts the reception report
// blocks about the sender's stream and the congestion control feedback.
func (c *Client) readSenderRTCP(sender *webrtc.RTPSender) {
	var ssrc uint32
	if enc := sender.GetParameters().Encodings; len(enc) > 0 {
		ssrc = uint32(enc[0].SSRC)
	}
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			if rr, ok := p.(*rtcp.ReceiverReport); ok {
				c.countReports(rr.Reports, ssrc)
			}
			switch p := p.(type) {
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				c.mu.Lock()
				c.caps++
				c.lastCap = p.Bitrate
				c.mu.Unlock()
			case *rtcp.TransportLayerCC:
				c.mu.Lock()
				c.twccFeedback++
				c.mu.Unlock()
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				c.mu.Lock()
				c.keyReqs++
				c.mu.Unlock()
				select {
				case c.keyframe <- struct{}{}:
				default:
				}
			}
		}
	}
}

// readTrack reports every packet of a remote track until it ends; sendTimeID and playoutExt
// are the ids of the abs-send-time and playout-delay extensions (0: not negotiated).
func (c *Client) readTrack(track *webrtc.TrackRemote, sendTimeID, playoutExt uint8) {
	kind := track.Kind()
	h264 := strings.EqualFold(track.Codec().MimeType, webrtc.MimeTypeH264)
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, attrs, err := track.Read(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		p := parsePacket(kind, h264, pkt.SequenceNumber, pkt.Timestamp, pkt.SSRC, pkt.Payload, time.Now())
		p.RTX = attrs != nil && attrs.Get(webrtc.AttributeRtxSsrc) != nil
		if sendTimeID != 0 {
			if ext := pkt.GetExtension(sendTimeID); len(ext) == 3 {
				p.SendTime = uint32(ext[0])<<16 | uint32(ext[1])<<8 | uint32(ext[2])
				p.HasSendTime = true
			}
		}
		if playoutExt != 0 {
			p.PlayoutMinMs, p.PlayoutMaxMs = parsePlayoutDelay(pkt.GetExtension(playoutExt))
		}
		if c.opts.OnPacket != nil {
			c.opts.OnPacket(p)
		}
		if c.opts.Record {
			c.mu.Lock()
			c.packets = append(c.packets, p)
			c.mu.Unlock()
		}
	}
}

// Source returns Options.Source.
func (c *Client) Source() uint32 { return c.opts.Source }
