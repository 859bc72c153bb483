package signaling

import "testing"

// TestNextWithSomeoneWaitingIsOnePairCall checks what the media side sees of
// Next: with a stranger waiting, one Pair that switches the user over (the
// old partner is parted in the same step); with nobody waiting, an Unpair.
func TestNextWithSomeoneWaitingIsOnePairCall(t *testing.T) {
	h := newTestHub(t, nil)
	a, b, c := h.dial(t), h.dial(t), h.dial(t)
	pair(t, a, b)
	c.send("find_partner", nil)
	c.expect("waiting_for_partner")

	before := h.media.callCount()
	a.send("next_partner", nil)
	b.expectPartnerLeft(ReasonNext)
	a.expect("partner_found")
	c.expect("partner_found")
	h.media.expectCallsSince(t, before, "pair "+a.id+" "+c.id) // a Next with c waiting

	before = h.media.callCount()
	c.send("next_partner", nil) // nobody else waits (b is idle): c waits
	a.expectPartnerLeft(ReasonNext)
	c.expect("waiting_for_partner")
	h.media.expectCallsSince(t, before, "unpair "+c.id+" "+a.id) // a Next with nobody waiting
}

// TestMediaFailureReachesThePartnerWithoutAnSFU drives a media failure
// through the Media seam alone.
func TestMediaFailureReachesThePartnerWithoutAnSFU(t *testing.T) {
	h := newTestHub(t, nil)
	a, b := h.dial(t), h.dial(t)
	pair(t, a, b)
	h.media.fail(a.id)
	b.expectPartnerLeft(ReasonMediaFailed)
}

// expectVideo reads a video_paused or video_resumed (typ) naming whose link
// is weak.
func (c *client) expectVideo(typ, weak string) {
	c.t.Helper()
	var d videoPausedData
	c.expect(typ).field(c.t, &d)
	if d.Weak != weak {
		c.t.Fatalf("%s weak %q, want %q", typ, d.Weak, weak)
	}
}

// TestVideoPauseReachesBothPartners: the user whose downlink is weak hears
// it is its own, its partner that its video is not getting through; a
// report that repeats the state, or that the peer's state no longer
// matches (it came late), tells nobody anything.
func TestVideoPauseReachesBothPartners(t *testing.T) {
	h := newTestHub(t, nil)
	a, b := h.dial(t), h.dial(t)
	pair(t, a, b)

	h.media.setPaused(a.id, true)
	a.expectVideo("video_paused", WeakSelf)
	b.expectVideo("video_paused", WeakPartner)
	h.media.setPaused(a.id, true) // a repeat
	h.media.setPaused(a.id, false)
	a.expectVideo("video_resumed", WeakSelf)
	b.expectVideo("video_resumed", WeakPartner)

	// A late report: the peer is no longer paused when it is handled.
	h.media.peers[b.id].ev.OnVideoPaused(true)
	a.send("typing", map[string]bool{"active": true}) // a marker: the next message b gets
	b.expect("partner_typing")
}
