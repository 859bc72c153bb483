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
	if got, want := h.media.callsSince(before), "pair "+a.id+" "+c.id; got != want {
		t.Fatalf("media calls for a Next with c waiting: %q, want %q", got, want)
	}

	before = h.media.callCount()
	c.send("next_partner", nil) // nobody else waits (b is idle): c waits
	a.expectPartnerLeft(ReasonNext)
	c.expect("waiting_for_partner")
	if got, want := h.media.callsSince(before), "unpair "+c.id+" "+a.id; got != want {
		t.Fatalf("media calls for a Next with nobody waiting: %q, want %q", got, want)
	}
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
