package sfu

import (
	"log/slog"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/tandemchat/tandem/sfu/synth"
)

// BenchmarkForwardOverPeerConnection measures rewrite plus Pion's full write path (NACK
// cache, reports, SRTP, UDP on loopback) to a real receive-only client.
func BenchmarkForwardOverPeerConnection(b *testing.B) {
	s, err := New(Config{ICEIPs: []string{"127.0.0.1"}}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	client, err := synth.New(synth.Options{Source: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	receiver := s.NewPeer("receiver", PeerEvents{OnICECandidate: func(c webrtc.ICECandidateInit) {
		_ = client.AddRemoteCandidate(c)
	}})
	defer receiver.Close()
	client.OnLocalCandidate(func(c webrtc.ICECandidateInit) { _ = receiver.AddICECandidate(c) })
	offer, err := client.Offer(false)
	if err != nil {
		b.Fatal(err)
	}
	answer, err := receiver.HandleOffer(offer)
	if err != nil {
		b.Fatal(err)
	}
	if err := client.SetAnswer(answer); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for receiver.down[kindVideo].binding.Load() == nil ||
		client.PC().ConnectionState() != webrtc.PeerConnectionStateConnected {
		if time.Now().After(deadline) {
			b.Fatal("client did not connect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	sender := s.NewPeer("sender", PeerEvents{})
	Pair(sender, receiver)
	up := &upTrack{peer: sender, kind: kindVideo, ssrc: 1234}

	payload := make([]byte, 1100)
	copy(payload, []byte{0x10, 0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 1, 2, 3, 4})
	var pkt rtp.Packet
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pkt.Header = rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i),
			Timestamp: uint32(i/5) * 3000, SSRC: 1234, Extensions: pkt.Header.Extensions}
		pkt.Payload = payload
		up.handle(&pkt, 1112, time.Now().UnixNano())
		payload[1] = 0x51 // only the first packet is a keyframe
	}
}
