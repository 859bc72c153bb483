package sfu_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/sfu/synth"
)

const (
	audio = webrtc.RTPCodecTypeAudio
	video = webrtc.RTPCodecTypeVideo
)

func TestPairedClientsReceiveOnlyEachOther(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	a, b, c := connect(t, s, true), connect(t, s, true), connect(t, s, true)

	sfu.Pair(a.peer, b.peer)
	for _, pair := range [][2]*endpoint{{a, b}, {b, a}} {
		pair[0].waitPackets(t, video, pair[1], 30)
		pair[0].waitPackets(t, audio, pair[1], 20)
	}
	for _, ep := range []*endpoint{a, b} {
		pkts := ep.client.Packets()
		for _, p := range pkts {
			if p.Source == ep.client.Source() || p.Source == c.client.Source() {
				t.Fatalf("peer received media from source %d, not its partner", p.Source)
			}
		}
		if first := ofKind(pkts, video)[0]; !first.Keyframe {
			t.Errorf("first video packet is not a keyframe")
		}
	}
	if n := len(c.client.Packets()); n != 0 {
		t.Fatalf("unpaired client received %d packets, want none", n)
	}

	st := a.peer.Stats()
	if st.InboundBitrateBps <= 0 || st.OutboundBitrateBps <= 0 || st.PacketsIn == 0 || st.PacketsOut == 0 {
		t.Fatalf("peer stats while media flows: %+v, want bitrates and packets above 0", st)
	}
	// Video at 500 kbps plus audio: once the meter's window (2-3 s) holds
	// only this flow, the windowed bitrate is in the right range. Until then
	// it averages the flow's first moments over the whole window.
	waitFor(t, "an inbound bitrate of 100 kbps to 2 Mbps for a 500 kbps client", func() bool {
		bps := a.peer.Stats().InboundBitrateBps
		return bps >= 100_000 && bps <= 2_000_000
	})
	// RTT needs a sender report from the server and a receiver report answering it.
	waitFor(t, "an RTT from the client's receiver reports", func() bool { return a.peer.Stats().RTTMs > 0 })
	// The server's own receiver reports reach the senders, about the streams they send.
	waitFor(t, "a receiver report from the server", func() bool { return a.client.ReceptionReports() > 0 })
	// Transport-wide congestion control feedback about what the clients send.
	waitFor(t, "congestion control feedback from the server", func() bool { return a.client.CongestionFeedback() > 0 })
	total := s.Stats()
	if total.VideoPacketsForwarded == 0 || total.AudioPacketsForwarded == 0 || total.PLIsSent == 0 ||
		total.KeyframeSwitches < 2 || total.Peers != 3 {
		t.Fatalf("sfu stats %+v: want forwarded packets, PLIs, 2 switches and 3 peers", total)
	}
	// Each client has its own UDP socket here, so the SFU decrypts their media itself, and
	// encrypts and sends what it forwards itself.
	if total.FastPathPackets < total.VideoPacketsForwarded {
		t.Fatalf("sfu stats %+v: %d packets took the fast path, want at least every forwarded video packet",
			total, total.FastPathPackets)
	}
	if total.FastPathPacketsSent < total.VideoPacketsForwarded+total.AudioPacketsForwarded {
		t.Fatalf("sfu stats %+v: %d packets were sent by the fast send path, want every forwarded packet",
			total, total.FastPathPacketsSent)
	}
}

func TestSwitchingPartnersKeepsTheStreamContinuous(t *testing.T) {
	var switches atomic.Int32
	s := newSFU(t, sfu.Config{OnVideoSwitch: func(latency time.Duration) {
		if latency <= 0 || latency > waitTimeout {
			t.Errorf("switch latency %s out of range", latency)
		}
		switches.Add(1)
	}})
	a, b, c := connect(t, s, true), connect(t, s, true), connect(t, s, true)

	sfu.Pair(a.peer, b.peer)
	a.waitPackets(t, video, b, 30)
	a.waitPackets(t, audio, b, 20)

	sfu.Unpair(a.peer, b.peer)
	sfu.Pair(a.peer, c.peer)
	a.waitPackets(t, video, c, 30)
	a.waitPackets(t, audio, c, 20)
	bCount := len(b.client.Packets())

	pkts := a.client.Packets()
	for _, kind := range []webrtc.RTPCodecType{audio, video} {
		checkSwitch(t, ofKind(pkts, kind), b.client.Source(), c.client.Source(), kind == video)
	}

	// B lost its partner: it must not receive anything more (its count was taken well after
	// the switch, once A had plenty of C's media).
	a.waitPackets(t, video, c, 60)
	if n := len(b.client.Packets()); n != bCount {
		t.Fatalf("unpaired client still receives: %d packets, then %d", bCount, n)
	}
	if n := switches.Load(); n != 4 {
		t.Fatalf("OnVideoSwitch called %d times, want 4 (two pairs, both directions)", n)
	}
	if a.client.KeyframeRequests() == 0 || c.client.KeyframeRequests() == 0 {
		t.Fatalf("keyframe requests: a %d, c %d; want both asked", a.client.KeyframeRequests(), c.client.KeyframeRequests())
	}
}

// checkSwitch verifies one kind's packets around a switch from source old to source new: the
// same SSRC, the new source's first packet right after the old source's last one (seq + 1,
// later timestamp), a keyframe first for video, and nothing from old after the switch.
func checkSwitch(t *testing.T, pkts []synth.Packet, old, new uint32, wantKeyframe bool) {
	t.Helper()
	first := -1
	for i, p := range pkts {
		if p.Source == new {
			first = i
			break
		}
	}
	if first <= 0 || pkts[first-1].Source != old {
		t.Fatalf("%s: no packet from the new source right after the old one", pkts[0].Kind)
	}
	last, next := pkts[first-1], pkts[first]
	if next.SSRC != last.SSRC {
		t.Errorf("%s: SSRC changed from %d to %d at the switch", next.Kind, last.SSRC, next.SSRC)
	}
	if next.Seq != last.Seq+1 {
		t.Errorf("%s: sequence %d then %d at the switch, want consecutive", next.Kind, last.Seq, next.Seq)
	}
	if int32(next.Timestamp-last.Timestamp) <= 0 {
		t.Errorf("%s: timestamp %d then %d at the switch, want increasing", next.Kind, last.Timestamp, next.Timestamp)
	}
	if wantKeyframe && !next.Keyframe {
		t.Errorf("%s: first packet of the new partner is not a keyframe", next.Kind)
	}
	if next.Kind == video && last.PictureID >= 0 && next.PictureID != (last.PictureID+1)&0x7fff {
		t.Errorf("VP8 picture ID %d then %d at the switch, want consecutive", last.PictureID, next.PictureID)
	}
	for _, p := range pkts[first:] {
		if p.Source != new {
			t.Fatalf("%s: packet from source %d after the switch to %d", p.Kind, p.Source, new)
		}
	}
}

func TestReceiveOnlyClientGetsPartnerMedia(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	sender, viewer := connect(t, s, true), connect(t, s, false)
	sfu.Pair(sender.peer, viewer.peer)
	viewer.waitPackets(t, video, sender, 30)
	viewer.waitPackets(t, audio, sender, 20)
	if first := ofKind(viewer.client.Packets(), video)[0]; !first.Keyframe {
		t.Fatal("first video packet is not a keyframe")
	}
}

func TestRenegotiationWithICERestartKeepsMediaFlowing(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	a, b := connect(t, s, true), connect(t, s, true)
	sfu.Pair(a.peer, b.peer)
	a.waitPackets(t, video, b, 20)

	negotiate(t, a, true)
	n := len(from(a.client.Packets(), video, b.client.Source()))
	a.waitPackets(t, video, b, n+30)
	b.waitPackets(t, video, a, 30)
}

func TestMediaAppearingAfterPairIsForwarded(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	a := connect(t, s, true)
	late := s.NewPeer("late", sfu.PeerEvents{})
	sfu.Pair(a.peer, late) // no PeerConnection yet on the late side
	sfu.Unpair(a.peer, late)
	if err := late.Close(); err != nil {
		t.Fatal(err)
	}
	// Paired before its first offer: media flows both ways once it connects.
	b := connectPrepared(t, s, synth.Options{Send: true}, func(p *sfu.Peer) { sfu.Pair(a.peer, p) })
	a.waitPackets(t, video, b, 10)
	b.waitPackets(t, video, a, 10)
	a.waitPackets(t, audio, b, 10)
	b.waitPackets(t, audio, a, 10)
	if first := ofKind(a.client.Packets(), video)[0]; !first.Keyframe {
		t.Fatal("first video packet is not a keyframe")
	}
}

func TestClientNACKIsAnsweredFromTheCache(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	a := connectWith(t, s, synth.Options{Send: true, AcceptReplays: true})
	b := connect(t, s, true)
	sfu.Pair(a.peer, b.peer)
	a.waitPackets(t, video, b, 20)

	got := from(a.client.Packets(), video, b.client.Source())
	lost := got[len(got)-5]
	nack := &rtcp.TransportLayerNack{MediaSSRC: lost.SSRC, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{lost.Seq})}
	if err := a.client.PC().WriteRTCP([]rtcp.Packet{nack}); err != nil {
		t.Fatal(err)
	}
	var again synth.Packet
	waitFor(t, "the NACKed packet to arrive again", func() bool {
		n := 0
		for _, p := range a.client.Packets() {
			if p.Kind == video && p.Seq == lost.Seq && p.Source == lost.Source {
				n, again = n+1, p
			}
		}
		return n >= 2
	})
	if !again.RTX {
		t.Error("the retransmission did not come on the RTX stream the client negotiated")
	}
	if st := s.Stats(); st.Retransmissions == 0 || st.NACKsReceived == 0 || st.RTXSent == 0 {
		t.Fatalf("stats %+v: want NACKs received and retransmissions (as RTX) counted", st)
	}
}

func TestNACKStormResendsEachPacketOnce(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	a := connectWith(t, s, synth.Options{Send: true, AcceptReplays: true})
	b := connect(t, s, true)
	sfu.Pair(a.peer, b.peer)
	a.waitPackets(t, video, b, 100)

	// One NACK of 250 pairs, every pair naming the same 17 recent packets: an attacker's
	// attempt to make the server resend about 4,000 packets.
	got := from(a.client.Packets(), video, b.client.Source())
	first := got[len(got)-40]
	pair := rtcp.NackPair{PacketID: first.Seq, LostPackets: 0xffff}
	nack := &rtcp.TransportLayerNack{MediaSSRC: first.SSRC, Nacks: make([]rtcp.NackPair, 250)}
	for i := range nack.Nacks {
		nack.Nacks[i] = pair
	}
	before := s.Stats()
	if err := a.client.PC().WriteRTCP([]rtcp.Packet{nack}); err != nil {
		t.Fatal(err)
	}
	const named = 17
	waitFor(t, "the 17 packets resent and the rest refused as duplicates", func() bool {
		st := s.Stats()
		return st.Retransmissions-before.Retransmissions == named &&
			st.RetransmissionsDuplicate-before.RetransmissionsDuplicate == 249*named
	})
	waitFor(t, "each named packet to arrive exactly twice", func() bool {
		counts := map[uint16]int{}
		for _, p := range from(a.client.Packets(), video, b.client.Source()) {
			counts[p.Seq]++
		}
		for i := range uint16(named) {
			if counts[first.Seq+i] != 2 {
				return false
			}
		}
		return true
	})
	if st := s.Stats(); st.RetransmissionsOverBudget != before.RetransmissionsOverBudget {
		t.Fatalf("over-budget refusals %d → %d: 17 packets are well within the budget",
			before.RetransmissionsOverBudget, st.RetransmissionsOverBudget)
	}
}

func TestReceiverPLIIsRelayedToThePartner(t *testing.T) {
	s := newSFU(t, sfu.Config{KeyframeInterval: 20 * time.Millisecond})
	a, b := connect(t, s, true), connect(t, s, true)
	sfu.Pair(a.peer, b.peer)
	a.waitPackets(t, video, b, 10)

	ssrc := ofKind(a.client.Packets(), video)[0].SSRC
	before := b.client.KeyframeRequests()
	waitFor(t, "the partner to be asked for a keyframe", func() bool {
		pli := &rtcp.PictureLossIndication{MediaSSRC: ssrc}
		if err := a.client.PC().WriteRTCP([]rtcp.Packet{pli}); err != nil {
			t.Fatal(err)
		}
		return b.client.KeyframeRequests() > before
	})
	if s.Stats().KeyframeRequestsReceived == 0 {
		t.Fatal("KeyframeRequestsReceived not counted")
	}
}

func TestH264ClientsSwitchOnAnIDR(t *testing.T) {
	s := newSFU(t, sfu.Config{VideoCodec: "h264"})
	opts := synth.Options{Send: true, H264: true}
	a, b, c := connectWith(t, s, opts), connectWith(t, s, opts), connectWith(t, s, opts)

	sfu.Pair(a.peer, b.peer)
	a.waitPackets(t, video, b, 30)
	sfu.Unpair(a.peer, b.peer)
	sfu.Pair(a.peer, c.peer)
	a.waitPackets(t, video, c, 30)
	a.waitPackets(t, audio, c, 10)

	pkts := a.client.Packets()
	if first := ofKind(pkts, video)[0]; !first.Keyframe {
		t.Fatal("first H.264 packet is not the start of an IDR")
	}
	checkSwitch(t, ofKind(pkts, video), b.client.Source(), c.client.Source(), true)
}
