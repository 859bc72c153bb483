package sfu_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/sfu/synth"
)

// offerFrom returns an offer of a bare Pion PeerConnection with the given codecs and
// transceivers (kinds), closed at the end of the test.
func offerFrom(t testing.TB, codecs []webrtc.RTPCodecParameters, kinds ...webrtc.RTPCodecType) string {
	t.Helper()
	m := &webrtc.MediaEngine{}
	for _, c := range codecs {
		kind := webrtc.RTPCodecTypeVideo
		if strings.HasPrefix(c.MimeType, "audio/") {
			kind = webrtc.RTPCodecTypeAudio
		}
		if err := m.RegisterCodec(c, kind); err != nil {
			t.Fatal(err)
		}
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.GracefulClose() })
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

var (
	opus = webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}}
	vp8 = webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}
	h264 = webrtc.RTPCodecParameters{PayloadType: 102, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}}
	pcmu = webrtc.RTPCodecParameters{PayloadType: 0, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}}
)

func TestUnacceptableOffersAreBadSDP(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	tests := []struct {
		name, offer, wantMsg string
	}{
		{"garbage", "hello, I am not SDP", "not valid SDP"},
		{"empty", " \r\n", "offer is empty"},
		{"audio only", offerFrom(t, []webrtc.RTPCodecParameters{opus}, webrtc.RTPCodecTypeAudio), "no video section"},
		{"no opus", offerFrom(t, []webrtc.RTPCodecParameters{pcmu, vp8}, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo), "audio section does not offer opus"},
		{"no vp8", offerFrom(t, []webrtc.RTPCodecParameters{opus, h264}, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo), "video section does not offer VP8"},
		{"200 media sections", offerBomb(t, 200), "200 media sections, at most 8"},
		{"over 16 KiB", validOffer(t) + strings.Repeat("a=x-padding:0123456789abcdef\r\n", 600), "at most 16384"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := s.NewPeer("p", sfu.PeerEvents{})
			defer p.Close()
			_, err := p.HandleOffer(tt.offer)
			if !errors.Is(err, sfu.ErrBadSDP) {
				t.Fatalf("HandleOffer error %v, want one wrapping ErrBadSDP", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
	if n := s.Stats().Peers; n != 0 {
		t.Fatalf("%d peer connections left open by refused offers", n)
	}
}

// validOffer is an acceptable offer: Opus audio and VP8 video.
func validOffer(t testing.TB) string {
	return offerFrom(t, []webrtc.RTPCodecParameters{opus, vp8}, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo)
}

// offerBomb returns a valid offer followed by n-2 more short video sections (n in all), as an
// attacker would send to make parsing costly.
func offerBomb(t testing.TB, n int) string {
	return validOffer(t) + strings.Repeat("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n", n-2)
}

func TestEightMediaSectionsAreStillAccepted(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	p := s.NewPeer("p", sfu.PeerEvents{})
	defer p.Close()
	offer := offerBomb(t, 8)
	if _, err := p.HandleOffer(offer); err != nil && strings.Contains(err.Error(), "media sections") {
		t.Fatalf("an offer with 8 media sections was refused for its size: %v", err)
	}
}

func TestTrickledCandidatesInRefusedRangesAreIgnored(t *testing.T) {
	s := newSFU(t, sfu.Config{}) // media on 127.0.0.1: loopback is served, 10/8 and the rest are not
	p := s.NewPeer("p", sfu.PeerEvents{})
	defer p.Close()
	for _, c := range []string{
		"candidate:1 1 udp 2122260223 10.1.2.3 50000 typ host",
		"candidate:2 1 udp 2122260223 192.168.1.20 50000 typ host",
		"candidate:3 1 udp 2122260223 169.254.169.254 80 typ host",
		"candidate:4 1 udp 2122260223 127.0.0.1 50000 typ host",
	} {
		if err := p.AddICECandidate(webrtc.ICECandidateInit{Candidate: c}); err != nil {
			t.Fatalf("AddICECandidate(%q): %v", c, err)
		}
	}
	if got := s.Stats().CandidatesRefused; got != 3 {
		t.Fatalf("refused candidates %d, want 3 (the loopback one is the server's own range)", got)
	}
	offer := validOffer(t)
	offer += "a=candidate:5 1 udp 2122260223 10.0.0.9 50000 typ host\r\n"
	if _, err := p.HandleOffer(offer); err != nil {
		t.Fatalf("offer with a candidate line: %v", err)
	}
	if got := s.Stats().CandidatesRefused; got != 4 {
		t.Fatalf("refused candidates %d after an offer naming 10.0.0.9, want 4", got)
	}
}

// BenchmarkRefusedOfferBomb measures what a 200-section offer (13 KB) costs the server now that it is
// refused before parsing.
func BenchmarkRefusedOfferBomb(b *testing.B) {
	s, err := sfu.New(sfu.Config{ICEIPs: []string{"127.0.0.1"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p := s.NewPeer("p", sfu.PeerEvents{})
	defer p.Close()
	offer := offerBomb(b, 200)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.HandleOffer(offer); !errors.Is(err, sfu.ErrBadSDP) {
			b.Fatal(err)
		}
	}
}

func TestH264ConfigAcceptsOnlyH264Offers(t *testing.T) {
	s := newSFU(t, sfu.Config{VideoCodec: "h264"})
	p := s.NewPeer("vp8-only", sfu.PeerEvents{})
	defer p.Close()
	offer := offerFrom(t, []webrtc.RTPCodecParameters{opus, vp8}, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo)
	if _, err := p.HandleOffer(offer); !errors.Is(err, sfu.ErrBadSDP) || !strings.Contains(err.Error(), "H264") {
		t.Fatalf("VP8-only offer to an H.264 server: %v, want ErrBadSDP naming H264", err)
	}
	q := s.NewPeer("h264", sfu.PeerEvents{})
	defer q.Close()
	offer = offerFrom(t, []webrtc.RTPCodecParameters{opus, h264}, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo)
	answer, err := q.HandleOffer(offer)
	if err != nil {
		t.Fatalf("H.264 offer: %v", err)
	}
	if !strings.Contains(answer, "H264/90000") || strings.Contains(answer, "VP8") {
		t.Fatalf("answer does not carry exactly H.264 video:\n%s", answer)
	}
}

func TestPeerMethodsBeforeOfferAndAfterClose(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	p := s.NewPeer("p", sfu.PeerEvents{})
	if err := p.HandleAnswer("v=0"); !errors.Is(err, sfu.ErrNoOffer) {
		t.Fatalf("HandleAnswer before an offer: %v, want ErrNoOffer", err)
	}
	for range 64 {
		if err := p.AddICECandidate(webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}); err != nil {
			t.Fatalf("queueing a candidate before the offer: %v", err)
		}
	}
	if err := p.AddICECandidate(webrtc.ICECandidateInit{}); err == nil {
		t.Fatal("65th candidate before the offer accepted, want an error")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := p.HandleOffer(offerFrom(t, []webrtc.RTPCodecParameters{opus, vp8},
		webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo)); !errors.Is(err, sfu.ErrClosed) {
		t.Fatalf("HandleOffer after Close: %v, want ErrClosed", err)
	}
	if err := p.AddICECandidate(webrtc.ICECandidateInit{}); !errors.Is(err, sfu.ErrClosed) {
		t.Fatalf("AddICECandidate after Close: %v, want ErrClosed", err)
	}
}

func TestClientGoingAwayFailsThePeerOnce(t *testing.T) {
	s := newSFU(t, sfu.Config{DisconnectTimeout: 2 * time.Second})
	a, b := connect(t, s, true), connect(t, s, true)
	sfu.Pair(a.peer, b.peer)
	a.waitPackets(t, video, b, 10)

	// The peer's owner closes it from OnFailed, as signaling does.
	closed := make(chan error, 1)
	go func() {
		err := <-b.failed
		closed <- b.peer.Close()
		b.failed <- err
	}()
	if err := b.client.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close from OnFailed: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no OnFailed after the client closed its PeerConnection")
	}
	if a.peer.Partner() != nil {
		t.Fatal("closing a peer did not unpair its partner")
	}
	waitFor(t, "peer count to drop", func() bool { return s.Stats().Peers == 1 })
	if n := b.fails.Load(); n != 1 {
		t.Fatalf("OnFailed called %d times, want 1", n)
	}
}

func TestRejectedFirstOfferThenAValidOneThenARealFailureIsReported(t *testing.T) {
	s := newSFU(t, sfu.Config{DisconnectTimeout: 2 * time.Second})
	// A first offer that passes the cheap checks but that Pion refuses (no DTLS fingerprint):
	// the PeerConnection made for it is discarded.
	var rejected string
	for _, line := range strings.SplitAfter(validOffer(t), "\n") {
		if !strings.HasPrefix(line, "a=fingerprint:") {
			rejected += line
		}
	}
	a := connectPrepared(t, s, synth.Options{Send: true}, func(p *sfu.Peer) {
		_, err := p.HandleOffer(rejected)
		if err == nil {
			t.Fatal("an offer without a fingerprint was accepted")
		}
		t.Logf("first offer refused: %v", err)
	})
	b := connect(t, s, true)
	sfu.Pair(a.peer, b.peer)
	b.waitPackets(t, video, a, 20) // the valid PeerConnection carries media
	if n := a.fails.Load(); n != 0 {
		t.Fatalf("OnFailed called %d times while the media works: the discarded PeerConnection's close was taken for a failure", n)
	}
	if err := a.client.Close(); err != nil { // the client really goes away
		t.Fatal(err)
	}
	select {
	case err := <-a.failed:
		t.Logf("reported: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the real failure after a rejected first offer was never reported")
	}
}

// freeUDPPort returns a UDP port of 127.0.0.1 that was free a moment ago.
func freeUDPPort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// TestExhaustedPortRangeRefusesTheOffer gives the SFU a range of one port: the first peer
// takes it, the second offer is refused with ErrNoMediaPort instead of being answered without
// candidates, and once the first peer is gone the port serves a new one.
func TestExhaustedPortRangeRefusesTheOffer(t *testing.T) {
	port := freeUDPPort(t)
	s := newSFU(t, sfu.Config{UDPPortMin: port, UDPPortMax: port})
	a := connect(t, s, true)

	late := s.NewPeer("late", sfu.PeerEvents{})
	defer late.Close()
	_, err := late.HandleOffer(validOffer(t))
	if !errors.Is(err, sfu.ErrNoMediaPort) {
		t.Fatalf("offer with every port taken: %v, want ErrNoMediaPort", err)
	}
	t.Logf("refused: %v", err)
	if n := s.Stats().NoMediaPort; n != 1 {
		t.Errorf("NoMediaPort = %d, want 1", n)
	}
	if n := s.Stats().Peers; n != 1 {
		t.Errorf("%d peers after the refusal, want 1 (the refused PeerConnection is discarded)", n)
	}

	if err := a.peer.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := late.HandleOffer(validOffer(t)); err != nil {
		t.Fatalf("offer after the port was freed: %v", err)
	}
}
