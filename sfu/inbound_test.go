package sfu

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"
)

// fuzzOffer is a minimal offer with the default codecs and the TWCC extension.
const fuzzOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n" +
	"a=extmap:3 " + sdp.TransportCCURI + "\r\na=rtpmap:111 opus/48000/2\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n" +
	"a=extmap:3 " + sdp.TransportCCURI + "\r\na=rtpmap:96 VP8/90000\r\n"

// newFuzzInbound returns an armed inbound of an unpaired peer, and a context that encrypts
// as its client would.
func newFuzzInbound(t testing.TB) (*inbound, *srtp.Context) {
	s, err := New(Config{ICEIPs: []string{"127.0.0.1"}}, nil) // the tests send from loopback
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	in := newInbound(s.NewPeer("fuzz", PeerEvents{}))
	key, salt := bytes.Repeat([]byte{7}, 16), bytes.Repeat([]byte{9}, 12)
	in.setKeys(srtpKeys{profile: srtp.ProtectionProfileAeadAes128Gcm,
		keys: srtp.SessionKeys{RemoteMasterKey: key, RemoteMasterSalt: salt}})
	var offer sdp.SessionDescription
	if err := offer.UnmarshalString(fuzzOffer); err != nil {
		t.Fatal(err)
	}
	in.setParams(&offer, s.codec)
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
	var scratch inboundScratch
	if in.take([]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42}, &scratch) {
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
	if in.take(forged, &scratch) {
		t.Fatal("took a packet that does not authenticate before any did: it must go to Pion")
	}
	encrypted, err := client.EncryptRTP(nil, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !in.take(encrypted, &scratch) {
		t.Fatal("did not take the client's packet")
	}
	if up := in.peer.up[kindVideo].Load(); up == nil || up.ssrc != 42 {
		t.Fatalf("video up track %v, want one for ssrc 42", up)
	}
	if in.twcc.PacketsHeld() != 1 {
		t.Fatalf("twcc recorder holds %d packets, want 1", in.twcc.PacketsHeld())
	}
	if !in.take(forged, &scratch) || !in.take(encrypted, &scratch) {
		t.Fatal("a forged or replayed packet after the keys proved right must be dropped here")
	}
	if got := in.peer.sfu.counters.fastPath.Load(); got != 1 {
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
	var scratch inboundScratch
	f.Fuzz(func(t *testing.T, b []byte) {
		in.take(b, &scratch)
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
	var scratch inboundScratch
	in.take(packets.next(t), &scratch) // the first packet creates the up track
	allocs := testing.AllocsPerRun(200, func() {
		if !in.take(packets.next(t), &scratch) {
			t.Fatal("packet not taken")
		}
	})
	if allocs != 0 {
		t.Fatalf("take allocates %.1f times per packet, want 0", allocs)
	}
}

// BenchmarkInboundTakeRTP measures the fast path for one 1100-byte video packet of an
// unpaired peer: decryption, parsing, statistics (the client's encryption is excluded).
func BenchmarkInboundTakeRTP(b *testing.B) {
	in, client := newFuzzInbound(b)
	packets := newClientPackets(client)
	var scratch inboundScratch
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		pkt := packets.next(b)
		b.StartTimer()
		in.take(pkt, &scratch)
	}
}
