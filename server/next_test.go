package server_test

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/livetest"
	"github.com/tandemchat/tandem/sfu/synth"
)

// Next through the whole server with media.switch_from_cache on: the user who waited is shown
// at once from the keyframe the server kept (sent before the Next), with the playout delay at
// 0 (media.switch_low_latency's default), and nothing of the old partner follows it.
//
// The server asks a waiting user for a keyframe every half second; one that arrives just after
// the Next is forwarded fresh instead (as it should be), so the scenario is tried up to three
// times for a switch that starts from the kept one.
func TestNextShowsTheWaitingUsersKeptKeyframeAtOnce(t *testing.T) {
	for range 3 {
		if nextShowsKeptKeyframe(t) {
			return
		}
	}
	t.Fatal("in three tries no switch started from the kept keyframe: each began with a fresh one")
}

// nextShowsKeptKeyframe runs the scenario once; false means c's first packet was a fresh
// keyframe (sent after the Next), any other failure ends the test.
func nextShowsKeptKeyframe(t *testing.T) bool {
	srv := livetest.Start(t, func(c *config.Config) { c.Media.SwitchFromCache = true })
	opts := synth.Options{Send: true, Record: true, VideoBitrate: 300_000}
	users := make([]*livetest.MediaUser, 3)
	for i := range users {
		opts.Source = uint32(i + 1)
		users[i] = livetest.NewMediaUser(t, srv, opts)
		users[i].Offer(t)
	}
	a, b, c := users[0], users[1], users[2]
	a.WS.Send("find_partner", nil)
	b.WS.Send("find_partner", nil)
	a.WaitFor(t, "partner_found")
	a.WaitPackets(t, 2, 30)
	c.WS.Send("find_partner", nil)
	c.WaitFor(t, "waiting_for_partner")
	// The server's receiver report about c's media: its video reaches the server.
	deadline := time.Now().Add(livetest.WaitFor)
	for c.Media.ReceptionReports() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no receiver report from the server about c's media")
		}
		time.Sleep(20 * time.Millisecond)
	}

	pressed := time.Now()
	a.WS.Send("next_partner", nil)
	a.WaitFor(t, "partner_found")
	a.WaitPackets(t, 3, 30)

	var pkts []synth.Packet
	for _, p := range a.Media.Packets() {
		if p.Kind == webrtc.RTPCodecTypeVideo {
			pkts = append(pkts, p)
		}
	}
	first := -1
	for i, p := range pkts {
		if p.Source == 3 {
			first = i
			break
		}
	}
	if first <= 0 || pkts[first-1].Source != 2 {
		t.Fatal("c's video does not follow b's")
	}
	if p := pkts[first]; p.Keyframe && p.SentAt.After(pressed) && p.PlayoutMaxMs == 0 {
		return false // a fresh keyframe came first: the replay had no reason to run
	}
	if p := pkts[first]; !p.Keyframe || !p.SentAt.Before(pressed) || p.PlayoutMinMs != 0 || p.PlayoutMaxMs != 0 {
		t.Fatalf("c's first video packet: keyframe %v, sent %v after the Next, playout delay %d-%d ms; "+
			"want the kept keyframe, sent before, with playout delay 0-0", p.Keyframe, p.SentAt.Sub(pressed),
			p.PlayoutMinMs, p.PlayoutMaxMs)
	}
	for _, p := range pkts[first+1:] {
		if p.Source != 3 {
			t.Fatalf("a packet of source %d after the switch to c", p.Source)
		}
	}
	if pkts[first].Seq != pkts[first-1].Seq+1 {
		t.Errorf("sequence %d then %d at the switch, want consecutive", pkts[first-1].Seq, pkts[first].Seq)
	}
	return true
}
