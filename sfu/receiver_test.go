package sfu

import (
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// testOffer is a minimal offer with the default codecs, the TWCC extension (id 3) and RTX for
// VP8 (97; 99 is RTX of a codec the server does not use).
const testOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n" +
	"a=extmap:3 " + sdp.TransportCCURI + "\r\na=rtpmap:111 opus/48000/2\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n" +
	"a=extmap:3 " + sdp.TransportCCURI + "\r\na=rtpmap:96 VP8/90000\r\n" +
	"a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n" + // RTX of our VP8
	"a=rtpmap:98 VP9/90000\r\na=rtpmap:99 rtx/90000\r\na=fmtp:99 apt=98\r\n" // of a codec not ours

// newTestReceiver returns the receiver of an unpaired peer that negotiated testOffer.
func newTestReceiver(t testing.TB) *receiver {
	s, err := New(Config{ICEIPs: []string{"127.0.0.1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	rx := newReceiver(s.NewPeer("rx", PeerEvents{}))
	var offer sdp.SessionDescription
	if err := offer.UnmarshalString(testOffer); err != nil {
		t.Fatal(err)
	}
	rx.setParams(&offer, s.codec)
	return rx
}

// videoPacket returns a VP8 packet of ssrc 42 with transport-wide sequence number twcc.
func videoPacket(t testing.TB, seq, twcc uint16) *rtp.Packet {
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, SSRC: 42},
		Payload: make([]byte, 1100)}
	pkt.Payload[0] = 0x10 // a VP8 descriptor with S=1
	if err := pkt.Header.SetExtension(3, []byte{byte(twcc >> 8), byte(twcc)}); err != nil {
		t.Fatal(err)
	}
	return pkt
}

func TestReceiverHandsPacketsToTheUpTrackOfTheirKindAndSSRC(t *testing.T) {
	rx := newTestReceiver(t)
	rx.HandleRTP(videoPacket(t, 1, 5), 1120)
	up := rx.peer.up[kindVideo].Load()
	if up == nil || up.ssrc != 42 || rx.peer.up[kindAudio].Load() != nil {
		t.Fatalf("video up track %v, audio %v; want a video one for ssrc 42 only", up, rx.peer.up[kindAudio].Load())
	}
	if rx.twcc.PacketsHeld() != 1 {
		t.Fatalf("twcc recorder holds %d packets, want 1", rx.twcc.PacketsHeld())
	}
	rx.HandleRTP(videoPacket(t, 2, 6), 1120)
	if rx.peer.up[kindVideo].Load() != up || rx.peer.Stats().PacketsIn != 2 {
		t.Fatalf("a second packet of the ssrc: up track replaced or not counted (%d packets in)",
			rx.peer.Stats().PacketsIn)
	}
	other := videoPacket(t, 1, 7)
	other.PayloadType = 100 // no configured codec's
	rx.HandleRTP(other, 1120)
	if rx.peer.Stats().PacketsIn != 2 {
		t.Fatal("a packet of an unnegotiated payload type reached an up track")
	}
}

// rtxPacket wraps videoPacket(seq) as the client's RTX packet number rtxSeq (payload type 97).
func rtxPacket(t testing.TB, seq, rtxSeq, twcc uint16) *rtp.Packet {
	pkt := videoPacket(t, rtxSeq, twcc)
	pkt.PayloadType, pkt.SSRC = 97, 43
	pkt.Payload = append([]byte{byte(seq >> 8), byte(seq)}, pkt.Payload...)
	return pkt
}

func TestReceiverUnwrapsRTXIntoTheVideoUpTrack(t *testing.T) {
	rx := newTestReceiver(t)
	rx.HandleRTP(videoPacket(t, 10, 1), 1120)
	rx.HandleRTP(videoPacket(t, 12, 2), 1120) // 11 lost
	up := rx.peer.up[kindVideo].Load()
	if missing, _ := up.nacks.missing(nil); len(missing) != 1 || missing[0] != 11 {
		t.Fatalf("missing %v, want [11]", missing)
	}
	rx.HandleRTP(rtxPacket(t, 11, 500, 3), 1122)
	if missing, _ := up.nacks.missing(nil); len(missing) != 0 {
		t.Fatalf("still missing %v after the RTX packet carrying 11", missing)
	}
	if rx.peer.up[kindVideo].Load() != up || rx.peer.sfu.counters.rtxReceived.Load() != 1 {
		t.Fatal("the RTX packet started an up track of its own or was not counted")
	}
	// A padding-only probe is recorded for the congestion feedback and goes no further.
	probe := rtxPacket(t, 0, 501, 4)
	probe.Payload = probe.Payload[:0]
	rx.HandleRTP(probe, 200)
	// RTX of a codec the server does not use is dropped like that codec.
	other := rtxPacket(t, 13, 502, 5)
	other.PayloadType = 99
	rx.HandleRTP(other, 1122)
	if in := rx.peer.Stats().PacketsIn; in != 3 {
		t.Fatalf("%d packets reached the up track, want 3 (two media, one repaired)", in)
	}
	if held := rx.twcc.PacketsHeld(); held != 4 {
		t.Fatalf("twcc recorder holds %d packets, want 4 (the probe included, not the unknown payload type)", held)
	}
}

func TestReceiverHandleRTPDoesNotAllocate(t *testing.T) {
	rx := newTestReceiver(t)
	pkt := videoPacket(t, 0, 0)
	rx.HandleRTP(pkt, 1120) // the first packet starts the up track
	allocs := testing.AllocsPerRun(200, func() {
		pkt.SequenceNumber++
		pkt.Timestamp += 3000
		rx.HandleRTP(pkt, 1120)
	})
	if allocs != 0 {
		t.Fatalf("HandleRTP allocates %.1f times per packet, want 0", allocs)
	}
}

// BenchmarkReceiverHandleRTP measures what the SFU does with one decrypted 1100-byte video
// packet of an unpaired peer: up track lookup, TWCC record, statistics, loss and NACK
// bookkeeping (the transport's decryption is BenchmarkInboundTakeRTP in sfu/transport).
func BenchmarkReceiverHandleRTP(b *testing.B) {
	rx := newTestReceiver(b)
	pkt := videoPacket(b, 0, 0)
	b.ReportAllocs()
	for b.Loop() {
		pkt.SequenceNumber++
		pkt.Timestamp += 3000
		rx.HandleRTP(pkt, 1120)
	}
}

// FuzzRTCPRouter feeds arbitrary decrypted RTCP to a paired peer's router: it must never
// panic.
func FuzzRTCPRouter(f *testing.F) {
	rx := newTestReceiver(f)
	partner := rx.peer.sfu.NewPeer("partner", PeerEvents{})
	Pair(rx.peer, partner)
	for kind, codec := range []webrtc.RTPCodecParameters{rx.peer.sfu.codec.audio, rx.peer.sfu.codec.video} {
		// Bound to ssrc 4242, with a writer that serialises what is resent.
		w := &marshalWriter{buf: make([]byte, 1500)}
		if _, err := rx.peer.down[kind].Bind(fakeContext{codec: codec, w: w}); err != nil {
			f.Fatal(err)
		}
	}
	rx.HandleRTP(videoPacket(f, 1, 1), 1120)
	partner.up[kindVideo].Store(newUpTrack(partner, kindVideo, 7))
	partner.up[kindVideo].Load().handle(videoPacket(f, 1, 1), 1120, 1) // cached by rx's video track
	for _, pkts := range [][]rtcp.Packet{
		{&rtcp.PictureLossIndication{MediaSSRC: 4242}},
		{&rtcp.TransportLayerNack{MediaSSRC: 4242, Nacks: []rtcp.NackPair{{PacketID: 1, LostPackets: 0xffff}}}},
		{&rtcp.ReceiverReport{SSRC: 42, Reports: []rtcp.ReceptionReport{{SSRC: 4242, LastSenderReport: 9}}}},
		{&rtcp.SenderReport{SSRC: 42}, &rtcp.FullIntraRequest{}},
	} {
		raw, err := rtcp.Marshal(pkts)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rx.HandleRTCP(b)
	})
}
