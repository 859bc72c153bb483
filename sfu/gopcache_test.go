package sfu_test

import (
	"testing"
	"time"

	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/sfu/synth"
)

// A client who waited is shown to its new partner at once: the partner's first packets are
// the waiting client's cached keyframe (sent before the Pair) and every frame after it, then
// the live stream, with no frame missing, nothing out of order and nothing of the old partner
// after it.
func TestSwitchReplaysTheWaitingClientsCachedGroup(t *testing.T) {
	timelines := make(chan sfu.SwitchTimeline, 16)
	s := newSFU(t, sfu.Config{SwitchFromCache: true,
		OnSwitchTimeline: func(tl sfu.SwitchTimeline) { timelines <- tl }})
	opts := synth.Options{Send: true, VideoBitrate: 1_000_000}
	a, b, c := connectWith(t, s, opts), connectWith(t, s, opts), connectWith(t, s, opts)
	sfu.Pair(a.peer, b.peer)
	a.waitPackets(t, video, b, 30)
	// c waits, sending: a third of a second of its video is cached.
	waitFor(t, "c's video to reach the server", func() bool { return c.peer.Stats().PacketsIn >= 40 })
	drain(timelines)

	before := s.Stats()
	paired := time.Now()
	sfu.Pair(a.peer, c.peer)
	a.waitPackets(t, video, c, 60)
	pkts := ofKind(a.client.Packets(), video)
	checkSwitch(t, pkts, b.client.Source(), c.client.Source(), true)

	got := from(pkts, video, c.client.Source())
	if !got[0].SentAt.Before(paired) {
		t.Errorf("the new partner's first keyframe was sent %v after the Pair: not the cached one",
			got[0].SentAt.Sub(paired))
	}
	for i := 1; i < len(got); i++ {
		prev, p := got[i-1], got[i]
		if p.Seq != prev.Seq+1 {
			t.Fatalf("packets %d then %d: a gap or reordering in the replayed and live stream", prev.Seq, p.Seq)
		}
		if p.SentAt.Before(prev.SentAt) {
			t.Fatalf("packet %d was sent before packet %d: out of order", p.Seq, prev.Seq)
		}
		if step := (p.PictureID - prev.PictureID + 0x8000) & 0x7fff; step > 1 {
			t.Fatalf("picture ID %d then %d: a frame is missing", prev.PictureID, p.PictureID)
		}
		if int32(p.Timestamp-prev.Timestamp) < 0 {
			t.Fatalf("timestamp %d then %d: going back", prev.Timestamp, p.Timestamp)
		}
	}
	// a was paired until the Pair: c waits for a's next keyframe, a is shown c's cache.
	if st := s.Stats(); st.SwitchesFromCache != before.SwitchesFromCache+1 || st.ReplayedPackets < before.ReplayedPackets+2 {
		t.Errorf("stats %+v, before the switch %+v: want one more switch from the cache (a receiving c), with its packets", st, before)
	}
	deadline := time.After(waitTimeout)
	for {
		select {
		case tl := <-timelines:
			if tl.Sender != c.peer.ID() {
				continue
			}
			if !tl.FromCache || tl.KeyframeForwarded < tl.FirstForwarded {
				t.Errorf("timeline %+v: want from the cache, in order", tl)
			}
			return
		case <-deadline:
			t.Fatal("no timeline for a receiving c")
		}
	}
}

// Without the cache, a waiting client's new partner waits for a keyframe sent after the Pair.
func TestSwitchWithoutCacheWaitsForANewKeyframe(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	a, b, c := connect(t, s, true), connect(t, s, true), connect(t, s, true)
	sfu.Pair(a.peer, b.peer)
	a.waitPackets(t, video, b, 30)
	waitFor(t, "c's video to reach the server", func() bool { return c.peer.Stats().PacketsIn >= 40 })
	paired := time.Now()
	sfu.Pair(a.peer, c.peer)
	a.waitPackets(t, video, c, 10)
	if first := from(a.client.Packets(), video, c.client.Source())[0]; first.SentAt.Before(paired) {
		t.Fatalf("the first keyframe was sent %v before the Pair, with no cache", paired.Sub(first.SentAt))
	}
	if n := s.Stats().SwitchesFromCache; n != 0 {
		t.Fatalf("%d switches from the cache with the cache off", n)
	}
}
