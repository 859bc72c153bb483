package sfu_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/sfu/synth"
)

// A Next as the hub does it (Pair with a new partner) yields one timeline per direction, its
// steps in the order they happen: the PLI to the new partner, its keyframe's arrival, the
// keyframe's first packet forwarded, its last packet forwarded.
func TestSwitchTimelineIsRecordedInOrder(t *testing.T) {
	timelines := make(chan sfu.SwitchTimeline, 16)
	s := newSFU(t, sfu.Config{OnSwitchTimeline: func(tl sfu.SwitchTimeline) { timelines <- tl }})
	// 2 Mbit/s at 30 fps: frames of about 8 KB, so a keyframe spans several packets.
	opts := synth.Options{Send: true, VideoBitrate: 2_000_000}
	a, b, c := connectWith(t, s, opts), connectWith(t, s, opts), connectWith(t, s, opts)
	id := func(ep *endpoint) string { return fmt.Sprintf("peer-%d", ep.client.Source()) }

	sfu.Pair(a.peer, b.peer)
	a.waitPackets(t, video, b, 30)
	b.waitPackets(t, video, a, 30)
	drain(timelines)

	paired := time.Now()
	sfu.Pair(a.peer, c.peer) // Next: a leaves b for c in one step
	a.waitPackets(t, video, c, 30)
	c.waitPackets(t, video, a, 30)
	elapsed := time.Since(paired)

	got := map[string]sfu.SwitchTimeline{}
	deadline := time.After(waitTimeout)
	for len(got) < 2 {
		select {
		case tl := <-timelines:
			got[tl.Receiver+"<-"+tl.Sender] = tl
		case <-deadline:
			t.Fatalf("timelines after the switch: %+v, want a<-c and c<-a", got)
		}
	}
	for _, dir := range [][2]*endpoint{{a, c}, {c, a}} {
		tl, ok := got[id(dir[0])+"<-"+id(dir[1])]
		if !ok {
			t.Fatalf("no timeline for %s receiving %s: %+v", id(dir[0]), id(dir[1]), got)
		}
		steps := []time.Duration{tl.PLISent, tl.KeyframeReceived, tl.FirstForwarded, tl.KeyframeForwarded}
		if tl.PLISent <= 0 {
			t.Errorf("%+v: no PLI went to the new partner after the Pair", tl)
		}
		for i := 1; i < len(steps); i++ {
			if steps[i] < steps[i-1] {
				t.Errorf("%+v: steps out of order (pli, keyframe received, first forwarded, keyframe forwarded)", tl)
			}
		}
		if tl.KeyframeForwarded > elapsed {
			t.Errorf("%+v: the keyframe was forwarded whole only after %v, when 30 packets had arrived", tl, elapsed)
		}
	}
	// a switched once: b's stream to a has no timeline of its own, nor does a's to b.
	select {
	case tl := <-timelines:
		t.Errorf("unexpected timeline %+v", tl)
	default:
	}
}

// drain empties ch.
func drain(ch chan sfu.SwitchTimeline) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
