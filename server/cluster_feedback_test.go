package server_test

import (
	"math"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/tandemchat/tandem/internal/livetest"
	"github.com/tandemchat/tandem/internal/redistest"
	"github.com/tandemchat/tandem/server"
	"github.com/tandemchat/tandem/sfu/synth"
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

// TestClusterLossRepairedAcrossInstances: video lost on the bridge (every
// 5th packet from a's instance to b's) and video lost between a client and
// its instance (every 5th packet b's client sends) is repaired: each client
// receives every video packet of its partner.
func TestClusterLossRepairedAcrossInstances(t *testing.T) {
	r := redistest.Start(t)
	a, b := startInstance(t, r), startInstance(t, r)
	server.LoseBridgedVideo(a.Server, 5)
	ua := mediaUser(t, a, 1)
	ub := livetest.NewMediaUser(t, b, synth.Options{Source: 2, Send: true, Record: true,
		VideoBitrate: 200_000, FPS: 15, DropEvery: 5})
	ub.Offer(t)
	ub.WaitConnected(t)
	pairUsers(t, ua, ub)

	waitAllVideo(t, ub, 1, 90) // lost on the bridge, repaired by a's instance
	waitAllVideo(t, ua, 2, 90) // lost on b's uplink, repaired by b's client
}

// waitAllVideo waits until u has received the first n video packets of
// source (by sequence number, from the first one u got), however late.
func waitAllVideo(t *testing.T, u *livetest.MediaUser, source uint32, n int) {
	t.Helper()
	deadline := time.Now().Add(livetest.WaitFor)
	for {
		got, newest := videoReceived(u, source, n)
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the first %d video packets of source %d never arrived (%d packets later than them did)",
				n-got, n, source, newest-n+1)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// videoReceived counts which of the first n video sequence numbers of source
// u received, and returns the newest one's distance from the first.
func videoReceived(u *livetest.MediaUser, source uint32, n int) (got, newest int) {
	seen := make(map[int]bool, n)
	var first uint16
	started := false
	for _, p := range u.Media.Packets() {
		if p.Kind != webrtc.RTPCodecTypeVideo || p.Source != source {
			continue
		}
		if !started {
			first, started = p.Seq, true
		}
		d := int(int16(p.Seq - first))
		newest = max(newest, d)
		if d >= 0 && d < n {
			seen[d] = true
		}
	}
	return len(seen), newest
}
