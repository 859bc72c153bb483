package sfu_test

import (
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/sfu/synth"
)

// sendEstimate makes ep's client report bps as the estimate of its downlink, as a browser's
// REMB about the video the server sends it.
func (ep *endpoint) sendEstimate(t *testing.T, bps float32) {
	t.Helper()
	var ssrcs []uint32
	if pkts := ofKind(ep.client.Packets(), video); len(pkts) > 0 {
		ssrcs = append(ssrcs, pkts[0].SSRC)
	}
	remb := &rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: 1, Bitrate: bps, SSRCs: ssrcs}
	if err := ep.client.PC().WriteRTCP([]rtcp.Packet{remb}); err != nil {
		t.Fatalf("write remb: %v", err)
	}
}

// waitCap waits until ep's client was sent the cap want (a REMB) by the server.
func (ep *endpoint) waitCap(t *testing.T, want float32) {
	t.Helper()
	waitFor(t, "the sender capped at its partner's estimate", func() bool {
		got, _ := ep.client.Cap()
		return got == want
	})
}

// waitPaused waits for the server to report video to ep paused (or resumed).
func (ep *endpoint) waitPaused(t *testing.T, want bool) {
	t.Helper()
	select {
	case got := <-ep.paused:
		if got != want {
			t.Fatalf("OnVideoPaused(%v), want %v", got, want)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("no OnVideoPaused(%v) within %s", want, waitTimeout)
	}
}

func TestVideoCarriesTheServersSendTime(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	a, b := connect(t, s, true), connect(t, s, true)
	sfu.Pair(a.peer, b.peer)
	b.waitPackets(t, video, a, 20)
	for _, p := range from(b.client.Packets(), video, a.client.Source()) {
		if !p.HasSendTime {
			t.Fatalf("video packet %d without abs-send-time", p.Seq)
		}
	}
	// The extension is the server's send time: within a second of the arrival.
	p := from(b.client.Packets(), video, a.client.Source())[0]
	at := p.At.UnixNano()
	local := uint32((uint64(at/1e9)<<18 | uint64(at%1e9)<<18/1e9) & 0xffffff)
	if d := int32((local-p.SendTime)<<8) >> 8; d < 0 || d > 1<<18 {
		t.Fatalf("send time %#x is %d/262144 s off the arrival %#x", p.SendTime, d, local)
	}
}

func TestReceiversEstimateCapsItsPartnersSenderAndFollowsNext(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	a, b, c := connect(t, s, true), connect(t, s, true), connect(t, s, true)
	sfu.Pair(a.peer, b.peer)
	b.waitPackets(t, video, a, 10)

	b.sendEstimate(t, 300_000)
	a.waitCap(t, 300_000)

	// Next: a's new partner c has reported nothing, so a's cap is lifted at once...
	sfu.Pair(a.peer, c.peer)
	waitFor(t, "the cap lifted for a partner with no estimate", func() bool {
		got, _ := a.client.Cap()
		return got > 10_000_000
	})
	// ...and back with b, b's estimate caps a again.
	sfu.Pair(a.peer, b.peer)
	a.waitCap(t, 300_000)
	if st := s.Stats(); st.REMBsReceived == 0 || st.CapsSent == 0 {
		t.Fatalf("REMBsReceived %d, CapsSent %d", st.REMBsReceived, st.CapsSent)
	}
}

func TestVideoPausesUnderTheFloorAndResumesWithAKeyframe(t *testing.T) {
	const floor = 200_000
	s := newSFU(t, sfu.Config{VideoFloor: floor})
	a := connect(t, s, true)
	b := connectWith(t, s, synth.Options{Send: true, AcceptReplays: true})
	sfu.Pair(a.peer, b.peer)
	b.waitPackets(t, video, a, 10)

	b.sendEstimate(t, 50_000)
	b.waitPaused(t, true)
	if !b.peer.VideoPaused() {
		t.Fatal("VideoPaused is false after OnVideoPaused(true)")
	}
	a.waitCap(t, floor) // the sender is held at the floor while paused

	// Audio goes on, video does not.
	videoBefore := len(from(b.client.Packets(), video, a.client.Source()))
	audioBefore := len(from(b.client.Packets(), audio, a.client.Source()))
	b.waitPackets(t, audio, a, audioBefore+100)
	if n := len(from(b.client.Packets(), video, a.client.Source())); n > videoBefore+5 {
		t.Fatalf("%d video packets forwarded while paused (a few may be in flight)", n-videoBefore)
	}

	// Nothing is forwarded while paused (the packets in flight at the pause arrived while the
	// audio above did), so the first video packet after this count is the resumed video's.
	keyReqs := a.client.KeyframeRequests()
	resumedAt := len(from(b.client.Packets(), video, a.client.Source()))
	b.sendEstimate(t, 1_000_000)
	b.waitPaused(t, false)
	b.waitPackets(t, video, a, resumedAt+5)
	if first := from(b.client.Packets(), video, a.client.Source())[resumedAt]; !first.Keyframe {
		t.Fatal("video resumed with a packet that does not start a keyframe")
	}
	if a.client.KeyframeRequests() <= keyReqs {
		t.Fatal("the sender was not asked for a keyframe on resume")
	}
	a.waitCap(t, 1_000_000)
	if st := s.Stats(); st.VideoPauses != 1 || st.VideoPacketsPaused == 0 {
		t.Fatalf("VideoPauses %d, VideoPacketsPaused %d", st.VideoPauses, st.VideoPacketsPaused)
	}
}
