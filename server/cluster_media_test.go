package server_test

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/tandemchat/tandem/internal/livetest"
	"github.com/tandemchat/tandem/internal/redistest"
	"github.com/tandemchat/tandem/sfu/synth"
)

// mediaUser is a user with a synthetic Pion client on srv, sending as source.
func mediaUser(t *testing.T, srv *livetest.Server, source uint32) *livetest.MediaUser {
	t.Helper()
	u := livetest.NewMediaUser(t, srv, synth.Options{Source: source, Send: true, Record: true, VideoBitrate: 200_000, FPS: 15})
	u.Offer(t)
	u.WaitConnected(t)
	return u
}

// videoFrom is u's received video packets from source, in arrival order.
func videoOf(u *livetest.MediaUser) []synth.Packet {
	var out []synth.Packet
	for _, p := range u.Media.Packets() {
		if p.Kind == webrtc.RTPCodecTypeVideo {
			out = append(out, p)
		}
	}
	return out
}

// pairAcrossInstances starts two instances on one Redis with a media user on
// each (ua with source 1 on a, ub with source 2 on b), pairs them and waits
// until each gets the other's media.
func pairAcrossInstances(t *testing.T) (a, b *livetest.Server, ua, ub *livetest.MediaUser) {
	t.Helper()
	r := redistest.Start(t)
	a, b = startInstance(t, r), startInstance(t, r)
	ua, ub = mediaUser(t, a, 1), mediaUser(t, b, 2)
	pairUsers(t, ua, ub)
	return a, b, ua, ub
}

// pairUsers pairs ua and ub (ua waits first) and waits until each gets the
// other's media.
func pairUsers(t *testing.T, ua, ub *livetest.MediaUser) {
	t.Helper()
	ua.WS.Send("find_partner", nil)
	ua.WaitFor(t, "waiting_for_partner")
	ub.WS.Send("find_partner", nil)
	ub.WaitFor(t, "partner_found")
	ua.WaitFor(t, "partner_found")
	ub.WaitPackets(t, ua.Media.Source(), 30) // a's media crossed to b
	ua.WaitPackets(t, ub.Media.Source(), 30) // and b's to a
}

func TestClusterMediaAcrossInstances(t *testing.T) {
	a, _, _, ub := pairAcrossInstances(t)

	// Next across instances: b leaves a for c, who waits on a's instance.
	uc := mediaUser(t, a, 3)
	uc.WS.Send("find_partner", nil)
	uc.WaitFor(t, "waiting_for_partner")
	ub.WS.Send("next_partner", nil)
	ub.WaitFor(t, "partner_found")
	ub.WaitPackets(t, 3, 30)
	uc.WaitPackets(t, 2, 30)

	// b's video switched from a to c on its one track: c's starts with a
	// keyframe, and nothing of a's comes after it.
	video := videoOf(ub)
	first := -1
	for i, p := range video {
		if p.Source == 3 {
			first = i
			break
		}
	}
	if first < 0 || !video[first].Keyframe {
		t.Fatalf("the new partner's first video packet (index %d) is not a keyframe", first)
	}
	for _, p := range video[first:] {
		if p.Source != 3 {
			t.Fatalf("a packet of source %d after the switch to source 3", p.Source)
		}
	}
	if video[first].SSRC != video[0].SSRC {
		t.Fatalf("the video track's SSRC changed at the switch: %d, then %d", video[0].SSRC, video[first].SSRC)
	}

	// b's keyframe requests reach c on the other instance.
	before := uc.Media.KeyframeRequests()
	pli := []rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: video[0].SSRC}}
	deadline := time.Now().Add(livetest.WaitFor)
	for uc.Media.KeyframeRequests() == before {
		if time.Now().After(deadline) {
			t.Fatal("b's PLI never reached c across the instances")
		}
		if err := ub.Media.PC().WriteRTCP(pli); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // a PLI each 100 ms until one arrives (the SFU throttles them)
	}
}

func TestClusterInstancesLeaveNoGoroutinesBehind(t *testing.T) {
	r := redistest.Start(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	a, b := startInstance(t, r), startInstance(t, r)
	ua, ub := mediaUser(t, a, 1), mediaUser(t, b, 2)
	ua.WS.Send("find_partner", nil)
	ua.WaitFor(t, "waiting_for_partner")
	ub.WS.Send("find_partner", nil)
	ub.WaitFor(t, "partner_found")
	ua.WaitPackets(t, 2, 10) // the bridge carries media both ways
	ub.WaitPackets(t, 1, 10)
	for _, u := range []*livetest.MediaUser{ua, ub} {
		u.WS.Close()
		u.Media.Close()
	}
	for _, s := range []*livetest.Server{a, b} {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestClusterVideoPauseReachesThePartnerOnAnotherInstance: b's downlink
// estimate (a REMB from its client) under the floor pauses the video b
// receives; b hears its own link is weak, a on the other instance that its
// partner's is.
func TestClusterVideoPauseReachesThePartnerOnAnotherInstance(t *testing.T) {
	_, _, ua, ub := pairAcrossInstances(t)

	ssrc := videoOf(ub)[0].SSRC
	remb := []rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 20_000, SSRCs: []uint32{ssrc}}}
	if err := ub.Media.PC().WriteRTCP(remb); err != nil {
		t.Fatal(err)
	}
	var weak struct{ Weak string }
	ub.WaitFor(t, "video_paused").Decode(t, &weak)
	if weak.Weak != "self" {
		t.Fatalf("b told %q, want self", weak.Weak)
	}
	ua.WaitFor(t, "video_paused").Decode(t, &weak)
	if weak.Weak != "partner" {
		t.Fatalf("a told %q, want partner", weak.Weak)
	}
	// and a's sender, on the other instance, is held at the floor meanwhile.
	waitCap(t, ua, 100_000)
}

func TestClusterBridgeDatagramsAreCounted(t *testing.T) {
	a, b, _, _ := pairAcrossInstances(t) // media crossed both ways
	for _, srv := range []*livetest.Server{a, b} {
		_, body := srv.Do(t, "GET", "/metrics", "")
		for _, outcome := range []string{"sent", "received"} {
			if n := bridgeDatagrams(t, body, srv.Instance(), outcome); n == 0 {
				t.Errorf("instance %s: tandem_bridge_datagrams_total %s is 0 after media crossed", srv.Instance(), outcome)
			}
		}
	}
}

// bridgeDatagrams reads tandem_bridge_datagrams_total of instance for
// outcome from a /metrics body.
func bridgeDatagrams(t *testing.T, body, instance, outcome string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^tandem_bridge_datagrams_total\{instance="` + regexp.QuoteMeta(instance) +
		`",outcome="` + outcome + `"\} (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no tandem_bridge_datagrams_total for %s %s in /metrics", instance, outcome)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
