package sfu

import (
	"log/slog"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// marshalWriter is a TrackLocalWriter that serialises each packet into a reused buffer, the
// work the SRTP layer does before encrypting; it lets the benchmark measure the SFU's own
// per-packet path without the network.
type marshalWriter struct {
	buf     []byte
	packets int
}

func (w *marshalWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	n, err := h.MarshalTo(w.buf)
	if err != nil {
		return 0, err
	}
	n += copy(w.buf[n:], payload)
	w.packets++
	return n, nil
}

func (w *marshalWriter) Write(b []byte) (int, error) { return len(b), nil }

// fakeContext binds a downTrack to a marshalWriter.
type fakeContext struct {
	codec webrtc.RTPCodecParameters
	w     webrtc.TrackLocalWriter
}

func (c fakeContext) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{c.codec}
}
func (c fakeContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (c fakeContext) SSRC() webrtc.SSRC                                      { return 4242 }
func (c fakeContext) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (c fakeContext) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (c fakeContext) WriteStream() webrtc.TrackLocalWriter                   { return c.w }
func (c fakeContext) ID() string                                             { return "bench" }
func (c fakeContext) RTCPReader() interceptor.RTCPReader                     { return nil }

// benchPair returns a sender's video upTrack paired with a receiver whose video downTrack
// writes into w.
func benchPair(b *testing.B, w *marshalWriter) (*upTrack, *Peer) {
	s, err := New(Config{ICEIPs: []string{"127.0.0.1"}}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	sender, receiver := s.NewPeer("sender", PeerEvents{}), s.NewPeer("receiver", PeerEvents{})
	if _, err := receiver.down[kindVideo].Bind(fakeContext{codec: s.codec.video, w: w}); err != nil {
		b.Fatal(err)
	}
	Pair(sender, receiver)
	return &upTrack{peer: sender, kind: kindVideo, ssrc: 1234}, receiver
}

// BenchmarkForwardVideoPacket measures the per-packet path of an up track's goroutine: parse
// the RTP header, count it, rewrite it for the partner's downTrack and serialise it.
func BenchmarkForwardVideoPacket(b *testing.B) {
	w := &marshalWriter{buf: make([]byte, 1500)}
	up, _ := benchPair(b, w)

	// A keyframe first (it starts the source), then interframes of 1100 bytes with a
	// transport-cc header extension, as browsers send.
	key := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1,
		Timestamp: 1000, SSRC: 1234}, Payload: append([]byte{0x10}, 0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 1, 2, 3, 4)}
	raw, err := key.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	var pkt rtp.Packet
	if err := pkt.Unmarshal(raw); err != nil {
		b.Fatal(err)
	}
	up.handle(&pkt, len(raw), time.Now().UnixNano())

	inter := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, Timestamp: 1000, SSRC: 1234},
		Payload: make([]byte, 1100)}
	inter.Payload[0], inter.Payload[1] = 0x10, 0x51
	if err := inter.SetExtension(3, []byte{0, 1}); err != nil {
		b.Fatal(err)
	}
	raw, err = inter.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	before := w.packets
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		seq := uint16(i + 2)
		raw[2], raw[3] = byte(seq>>8), byte(seq)
		if err := pkt.Unmarshal(raw); err != nil {
			b.Fatal(err)
		}
		up.handle(&pkt, len(raw), time.Now().UnixNano())
	}
	b.StopTimer()
	if got := w.packets - before; got != b.N {
		b.Fatalf("%d packets written for %d forwarded", got, b.N)
	}
}

// BenchmarkRewrite measures the sequence/timestamp rewriter alone.
func BenchmarkRewrite(b *testing.B) {
	r := newRewriter(90000)
	r.switchSource(0, 0, 1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.rewrite(uint16(i), uint32(i)*3000, int64(i))
	}
}

// BenchmarkNACKStorm measures a downTrack answering a hostile NACK: 250 pairs that each name
// the same 17 cached packets. After the first round every request is a duplicate, so this is
// the cost of refusing about 4,000 resends; it must allocate nothing.
func BenchmarkNACKStorm(b *testing.B) {
	w := &marshalWriter{buf: make([]byte, 1500)}
	_, receiver := benchPair(b, w)
	d := receiver.down[kindVideo]
	payload := make([]byte, 1100)
	for seq := range uint16(packetCacheSize) {
		d.cache.store(&rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, SSRC: 4242}, payload)
	}
	nack := &rtcp.TransportLayerNack{MediaSSRC: 4242, Nacks: make([]rtcp.NackPair, 250)}
	for i := range nack.Nacks {
		nack.Nacks[i] = rtcp.NackPair{PacketID: 100, LostPackets: 0xffff}
	}
	var h rtp.Header
	buf := make([]byte, rtxOSNLen+maxCachedPayload)
	b.ReportAllocs()
	for b.Loop() {
		d.retransmit(nack, &h, buf)
	}
	b.ReportMetric(float64(w.packets)/float64(b.N), "resent/op")
}
