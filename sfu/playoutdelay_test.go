package sfu_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tandemchat/tandem/sfu"
)

// After a Next the receiver gets the new partner's video from a keyframe on, nothing of the
// old partner after it, and the playout-delay extension: min=max=0 for the low-latency
// window, then its default limits (0 to 10 s) for a while, then nothing.
func TestSwitchAsksForPlayoutAtOnceThenRestores(t *testing.T) {
	s := newSFU(t, sfu.Config{SwitchLowLatency: 300 * time.Millisecond})
	a, b, c := connect(t, s, true), connect(t, s, true), connect(t, s, true)
	sfu.Pair(a.peer, b.peer)
	a.waitPackets(t, video, b, 30)
	sfu.Pair(a.peer, c.peer)
	waitFor(t, "the playout delay marks to end on c's video", func() bool {
		got := from(a.client.Packets(), video, c.client.Source())
		return len(got) > 0 && got[len(got)-1].PlayoutMinMs == -1
	})
	pkts := ofKind(a.client.Packets(), video)
	checkSwitch(t, pkts, b.client.Source(), c.client.Source(), true)

	// The marks of c's packets in order: at once, then restore, then none; each phase once.
	var phases []string
	for _, p := range from(pkts, video, c.client.Source()) {
		var phase string
		switch {
		case p.PlayoutMinMs == 0 && p.PlayoutMaxMs == 0:
			phase = "at once"
		case p.PlayoutMinMs == 0 && p.PlayoutMaxMs == 10000:
			phase = "restore"
		case p.PlayoutMinMs == -1 && p.PlayoutMaxMs == -1:
			phase = "none"
		default:
			t.Fatalf("packet %d: playout delay %d-%d ms", p.Seq, p.PlayoutMinMs, p.PlayoutMaxMs)
		}
		if len(phases) == 0 || phases[len(phases)-1] != phase {
			phases = append(phases, phase)
		}
	}
	if fmt.Sprint(phases) != "[at once restore none]" {
		t.Fatalf("playout delay phases of the new partner's video: %v, want [at once restore none]", phases)
	}
	for _, p := range from(pkts, audio, c.client.Source()) {
		if p.PlayoutMinMs != -1 {
			t.Fatalf("audio packet %d carries a playout delay", p.Seq)
		}
	}
}

// With the window turned off, no packet carries the extension.
func TestSwitchLowLatencyOff(t *testing.T) {
	s := newSFU(t, sfu.Config{SwitchLowLatency: -1})
	a, b := connect(t, s, true), connect(t, s, true)
	sfu.Pair(a.peer, b.peer)
	a.waitPackets(t, video, b, 60)
	for _, p := range a.client.Packets() {
		if p.PlayoutMinMs != -1 {
			t.Fatalf("packet %d carries a playout delay with the window off", p.Seq)
		}
	}
}
