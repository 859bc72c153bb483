package sfu

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// loopOut is a BridgeOut that hands what one instance's bridged peer sends straight to the
// other instance's, as the bridge's read goroutine would (one call at a time).
type loopOut struct {
	mu    sync.Mutex // the other side's "read goroutine"
	to    *BridgedPeer
	local *Peer // the local peer on the other side, whose keyframe requests this carries
}

func (o *loopOut) SendRTP(video bool, pkt []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.to.Deliver(video, pkt)
}

func (o *loopOut) RequestKeyframe() { o.local.RequestKeyframe() }

func (o *loopOut) SendFeedback(pkt []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.to.HandleFeedback(pkt)
}

// bridgedPair returns a sender's video up track on one SFU, paired over a loopOut bridge with
// a receiver on another SFU whose video downTrack writes into w.
func bridgedPair(t testing.TB, w *marshalWriter) *upTrack {
	newSFU := func() *SFU {
		s, err := New(Config{ICEIPs: []string{"127.0.0.1"}}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	sa, sb := newSFU(), newSFU()
	sender, receiver := sa.NewPeer("sender", PeerEvents{}), sb.NewPeer("receiver", PeerEvents{})
	if _, err := receiver.down[kindVideo].Bind(fakeContext{codec: sb.codec.video, w: w}); err != nil {
		t.Fatal(err)
	}
	toB, toA := &loopOut{local: receiver}, &loopOut{local: sender}
	forReceiver := sa.NewBridgedPeer("receiver", toB) // on a's instance, standing for the receiver
	forSender := sb.NewBridgedPeer("sender", toA)     // on b's, for the sender
	toB.to, toA.to = forSender, forReceiver
	t.Cleanup(func() { forReceiver.Close(); forSender.Close() })
	Pair(sender, forReceiver.Peer)
	Pair(receiver, forSender.Peer)
	return &upTrack{peer: sender, kind: kindVideo, ssrc: 1234}
}

// TestBridgedForwardDoesNotAllocate: a packet forwarded to a partner on another instance
// (rewritten for the bridged peer, marshalled for the bridge, delivered on the other side and
// rewritten for the receiver) allocates nothing.
func TestBridgedForwardDoesNotAllocate(t *testing.T) {
	w := &marshalWriter{buf: make([]byte, 1500)}
	up := bridgedPair(t, w)
	key := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1,
		Timestamp: 1000, SSRC: 1234}, Payload: []byte{0x10, 0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 1, 2, 3, 4}}
	up.handle(&key, 100, time.Now().UnixNano()) // a keyframe starts the source on both sides
	if w.packets != 1 {
		t.Fatalf("the keyframe reached the receiver %d times, want once", w.packets)
	}
	payload := make([]byte, 1100)
	payload[0], payload[1] = 0x10, 0x51
	var inter rtp.Packet
	seq := uint16(1)
	allocs := testing.AllocsPerRun(200, func() {
		seq++ // forward rewrites the packet in place: a new one each time
		inter.Header = rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq,
			Timestamp: 1000 + 3000*uint32(seq), SSRC: 1234}
		inter.Payload = payload
		up.handle(&inter, 1112, time.Now().UnixNano())
	})
	if allocs != 0 {
		t.Fatalf("a bridged forward allocates %.1f times per packet, want 0", allocs)
	}
	if w.packets != 202 {
		t.Fatalf("%d packets reached the receiver, want 202", w.packets)
	}
}

// BenchmarkForwardBridgedVideoPacket measures a video packet to a partner on another
// instance, both instances' work without the bridge's sealing and socket
// (BenchmarkBridgePacket in cluster): rewritten for the bridged peer, marshalled for the
// bridge, parsed on the other side, counted by the bridged peer's up track and rewritten and
// serialised for the receiver. BenchmarkForwardVideoPacket is the same for a local partner.
func BenchmarkForwardBridgedVideoPacket(b *testing.B) {
	w := &marshalWriter{buf: make([]byte, 1500)}
	up := bridgedPair(b, w)
	key := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1,
		Timestamp: 1000, SSRC: 1234}, Payload: []byte{0x10, 0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 1, 2, 3, 4}}
	up.handle(&key, 100, time.Now().UnixNano())
	payload := make([]byte, 1100)
	payload[0], payload[1] = 0x10, 0x51
	var pkt rtp.Packet
	seq := uint16(1)
	b.ReportAllocs()
	for b.Loop() {
		seq++
		pkt.Header = rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq,
			Timestamp: 1000 + 3000*uint32(seq), SSRC: 1234}
		pkt.Payload = payload
		up.handle(&pkt, 1112, time.Now().UnixNano())
	}
	b.StopTimer()
	if w.packets < b.N {
		b.Fatalf("%d packets reached the receiver for %d forwarded", w.packets, b.N)
	}
}
