package server_test

import (
	"math"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/tandemchat/tandem/internal/livetest"
)

// sendREMB makes u's client report a downlink estimate of bps to its server.
func sendREMB(t *testing.T, u *livetest.MediaUser, bps float32) {
	t.Helper()
	remb := []rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: bps, SSRCs: []uint32{1}}}
	if err := u.Media.PC().WriteRTCP(remb); err != nil {
		t.Fatal(err)
	}
}

// waitCap waits until the latest bitrate cap (REMB) u's client received is
// bps, within a REMB's precision (an 18-bit mantissa).
func waitCap(t *testing.T, u *livetest.MediaUser, bps float32) {
	t.Helper()
	deadline := time.Now().Add(livetest.WaitFor)
	for {
		got, n := u.Media.Cap()
		if math.Abs(float64(got-bps)) <= float64(bps)/(1<<17) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("source %d's client was capped at %.0f bit/s (%d caps), want %.0f", u.Media.Source(), got, n, bps)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterREMBCapsTheSenderOnAnotherInstance: a receiver's downlink
// estimate caps its partner's sender on the other instance as it would on its
// own, and the cap follows Next: to the new partner's estimate, or lifted
// when the new partner has none.
func TestClusterREMBCapsTheSenderOnAnotherInstance(t *testing.T) {
	_, b, ua, ub := pairAcrossInstances(t)

	sendREMB(t, ub, 400_000)
	waitCap(t, ua, 400_000)

	// a moves on to c (on b's instance too), whose estimate came while it waited.
	uc := mediaUser(t, b, 3)
	sendREMB(t, uc, 250_000)
	uc.WS.Send("find_partner", nil)
	uc.WaitFor(t, "waiting_for_partner")
	ua.WS.Send("next_partner", nil)
	ua.WaitFor(t, "partner_found")
	waitCap(t, ua, 250_000)

	// and on to d, which has no estimate: a's cap is lifted.
	ud := mediaUser(t, b, 4)
	ud.WS.Send("find_partner", nil)
	ud.WaitFor(t, "waiting_for_partner")
	ua.WS.Send("next_partner", nil)
	ua.WaitFor(t, "partner_found")
	waitCap(t, ua, 50_000_000)
}
