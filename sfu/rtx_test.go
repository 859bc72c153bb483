package sfu_test

import (
	"testing"

	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/sfu/synth"
)

// TestSenderLossIsRepairedOverRTX: a sender whose every tenth video packet
// is lost on its uplink is asked again by the server's NACKs; its
// retransmissions come on its RTX stream, which the server unwraps into the
// original packets, so the receiver gets every packet.
func TestSenderLossIsRepairedOverRTX(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	a := connectWith(t, s, synth.Options{Send: true, DropEvery: 10})
	b := connect(t, s, true)
	sfu.Pair(a.peer, b.peer)
	b.waitPackets(t, video, a, 300)

	got := from(b.client.Packets(), video, a.client.Source())
	seen := map[uint16]bool{}
	for _, p := range got {
		seen[p.Seq] = true
	}
	// Everything between the first packet and one well before the newest (whose repairs
	// may still be on the way) arrived.
	first, last := got[0].Seq, got[len(got)-60].Seq
	for seq := first; seq != last; seq++ {
		if !seen[seq] {
			t.Fatalf("video packet %d never arrived (first %d, checked to %d)", seq, first, last)
		}
	}
	if st := s.Stats(); st.RTXReceived == 0 {
		t.Fatal("no retransmission came as RTX")
	}
}
