package transport

import (
	"bytes"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// testSink is a Sink that counts what it gets and keeps the last RTP packet's SSRC and
// transport-wide sequence number (extension 3). It allocates nothing.
type testSink struct {
	rtp, rtcp atomic.Int64
	lastSSRC  atomic.Uint32
	lastTWCC  atomic.Int32 // -1 without the extension
}

func (s *testSink) HandleRTP(pkt *rtp.Packet, _ int) {
	s.rtp.Add(1)
	s.lastSSRC.Store(pkt.SSRC)
	if ext := pkt.GetExtension(3); len(ext) == 2 {
		s.lastTWCC.Store(int32(ext[0])<<8 | int32(ext[1]))
	} else {
		s.lastTWCC.Store(-1)
	}
}

func (s *testSink) HandleRTCP(plain []byte) {
	s.rtcp.Add(1)
	_, _ = rtcp.Unmarshal(plain) // what a real sink does with it
}

// newTestTransport returns a Transport closed at the end of the test.
func newTestTransport(t testing.TB, cfg Config) *Transport {
	t.Helper()
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("close transport: %v", err)
		}
	})
	return tr
}

// newFuzzInbound returns an armed inbound with a testSink, and a context that encrypts as
// its client would.
func newFuzzInbound(t testing.TB) (*inbound, *srtp.Context) {
	in := newInbound(newTestTransport(t, Config{}), &testSink{}, slog.New(slog.DiscardHandler))
	key, salt := bytes.Repeat([]byte{7}, 16), bytes.Repeat([]byte{9}, 12)
	in.setKeys(srtpKeys{profile: srtp.ProtectionProfileAeadAes128Gcm,
		keys: srtp.SessionKeys{RemoteMasterKey: key, RemoteMasterSalt: salt}})
	client, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	return in, client
}

// clientVP8 returns a small VP8 keyframe packet with sequence number seq, in plain and as
// client encrypts it.
func clientVP8(t *testing.T, client *srtp.Context, seq uint16) (plain, encrypted []byte) {
	t.Helper()
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, SSRC: 42},
		Payload: []byte{0x10, 0, 0x9d, 0x01, 0x2a, 1, 2, 3}}
	plain, err := pkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	encrypted, err = client.EncryptRTP(nil, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	return plain, encrypted
}

func TestInboundTakesTheClientsPacketsOnly(t *testing.T) {
	in, client := newFuzzInbound(t)
	var s scratch
	if in.take([]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42}, &s) {
		t.Fatal("took a STUN packet")
	}
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1, SSRC: 42},
		Payload: []byte{0x10, 0, 0x9d, 0x01, 0x2a, 1, 2, 3}}
	if err := pkt.Header.SetExtension(3, []byte{0, 5}); err != nil {
		t.Fatal(err)
	}
	plain, err := pkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	forged := append([]byte(nil), plain...)
	forged = append(forged, make([]byte, 16)...) // a GCM tag of zeros
	if in.take(forged, &s) {
		t.Fatal("took a packet that does not authenticate before any did: it must go to Pion")
	}
	encrypted, err := client.EncryptRTP(nil, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !in.take(encrypted, &s) {
		t.Fatal("did not take the client's packet")
	}
	sink := in.sink.(*testSink)
	if sink.rtp.Load() != 1 || sink.lastSSRC.Load() != 42 || sink.lastTWCC.Load() != 5 {
		t.Fatalf("sink got %d packets, the last of ssrc %d with transport-wide number %d; want 1 of ssrc 42 with 5",
			sink.rtp.Load(), sink.lastSSRC.Load(), sink.lastTWCC.Load())
	}
	if !in.take(forged, &s) || !in.take(encrypted, &s) {
		t.Fatal("a forged or replayed packet after the keys proved right must be dropped here")
	}
	if got := in.t.Stats().PacketsDecrypted; got != 1 || sink.rtp.Load() != 1 {
		t.Fatalf("fast path counted %d packets, want only the one authentic packet", got)
	}
}

// FuzzInboundTake feeds arbitrary datagrams to an armed fast path: it must never panic.
func FuzzInboundTake(f *testing.F) {
	in, client := newFuzzInbound(f)
	for _, pt := range []uint8{96, 111, 0} {
		plain, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SSRC: 1},
			Payload: []byte{0x10, 0, 0x9d, 0x01, 0x2a}}).Marshal()
		encrypted, _ := client.EncryptRTP(nil, plain, nil)
		f.Add(encrypted)
	}
	f.Add([]byte{0x80, 200, 0, 1, 0, 0, 0, 1})
	f.Add([]byte{0, 1, 0, 0})
	var s scratch
	f.Fuzz(func(t *testing.T, b []byte) {
		in.take(b, &s)
	})
}

// clientPackets encrypts consecutive VP8 packets as the client of newFuzzInbound would, into
// reused buffers.
type clientPackets struct {
	ctx       *srtp.Context
	pkt       rtp.Packet
	plain     []byte
	encrypted []byte
	hdr       rtp.Header
}

func newClientPackets(ctx *srtp.Context) *clientPackets {
	c := &clientPackets{ctx: ctx, plain: make([]byte, 1500), encrypted: make([]byte, 1500)}
	c.pkt = rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 42},
		Payload: make([]byte, 1100)}
	c.pkt.Payload[0] = 0x10 // a VP8 descriptor with S=1
	return c
}

// next returns the next encrypted packet.
func (c *clientPackets) next(tb testing.TB) []byte {
	c.pkt.SequenceNumber++
	c.pkt.Timestamp += 3000
	n, err := c.pkt.MarshalTo(c.plain)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := c.ctx.EncryptRTP(c.encrypted[:0], c.plain[:n], &c.hdr)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestInboundTakeDoesNotAllocate(t *testing.T) {
	in, client := newFuzzInbound(t)
	packets := newClientPackets(client)
	var s scratch
	in.take(packets.next(t), &s) // the first packet creates the up track
	allocs := testing.AllocsPerRun(200, func() {
		if !in.take(packets.next(t), &s) {
			t.Fatal("packet not taken")
		}
	})
	if allocs != 0 {
		t.Fatalf("take allocates %.1f times per packet, want 0", allocs)
	}
}

// BenchmarkInboundTakeRTP measures the fast path for one 1100-byte video packet handed to a
// sink that only counts: decryption and parsing (the client's encryption is excluded); the
// SFU's own work on the packet is BenchmarkReceiverHandleRTP in package sfu.
func BenchmarkInboundTakeRTP(b *testing.B) {
	in, client := newFuzzInbound(b)
	packets := newClientPackets(client)
	var s scratch
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		pkt := packets.next(b)
		b.StartTimer()
		in.take(pkt, &s)
	}
}
