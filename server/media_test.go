package server_test

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/livetest"
	"github.com/tandemchat/tandem/sfu/synth"
)

// offerWithoutFingerprint is a well-formed offer that Pion refuses (it has
// no DTLS fingerprint): it passes the cheap checks, so the server makes a
// PeerConnection for it and then has to discard it.
func offerWithoutFingerprint(t *testing.T) string {
	t.Helper()
	c, err := synth.New(synth.Options{Source: 99, Send: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sdp, err := c.Offer(false)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(sdp, "\n") {
		if !strings.HasPrefix(line, "a=fingerprint:") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// TestMediaFailureAfterARejectedFirstOfferEndsThePair reproduces issue 12's
// item 5 against the whole server: a rejected first offer, a valid one,
// then a real failure must reach the partner as partner_left media_failed,
// and the failed session is refused new matches until it reconnects.
func TestMediaFailureAfterARejectedFirstOfferEndsThePair(t *testing.T) {
	srv := livetest.Start(t, nil)
	opts := synth.Options{Send: true, Record: true, VideoBitrate: 200_000, FPS: 15}
	opts.Source = 1
	a := livetest.NewMediaUser(t, srv, opts)
	opts.Source = 2
	b := livetest.NewMediaUser(t, srv, opts)

	a.WS.Send("webrtc_offer", map[string]string{"sdp": offerWithoutFingerprint(t)})
	t.Logf("rejected offer: %s", a.WaitForError(t, "bad_sdp"))
	a.Offer(t)
	b.Offer(t)
	a.WS.Send("find_partner", nil)
	b.WS.Send("find_partner", nil)
	a.WaitFor(t, "partner_found")
	b.WaitFor(t, "partner_found")
	b.WaitPackets(t, 1, 30) // a's media reaches b: the valid PeerConnection works
	select {
	case m := <-b.Other:
		t.Fatalf("while the media works, b got %s %s", m.Type, m.Data)
	default:
	}

	if err := a.Media.Close(); err != nil { // a's media really goes away
		t.Fatal(err)
	}
	var left struct{ Reason string }
	if err := json.Unmarshal(b.WaitFor(t, "partner_left").Data, &left); err != nil {
		t.Fatal(err)
	}
	if left.Reason != "media_failed" {
		t.Fatalf("partner_left reason %q, want media_failed", left.Reason)
	}
	t.Logf("a was told: %s", a.WaitForError(t, "media_failed"))

	// a's PeerConnection is dead: no stranger is paired with it.
	a.WS.Send("find_partner", nil)
	a.WaitForError(t, "media_failed")
	a.WS.Send("next_partner", nil)
	a.WaitForError(t, "media_failed")
	// b is unharmed and can search again.
	b.WS.Send("find_partner", nil)
	b.WaitFor(t, "waiting_for_partner")
}

// TestPeerConnectionsPerIPAreCapped reproduces issue 12's item 8 from one
// IP: with limits.media_per_ip 2, a third session's offer gets media_limit
// (and holds no port), while the first two talk; when one of them leaves,
// the third gets its PeerConnection.
func TestPeerConnectionsPerIPAreCapped(t *testing.T) {
	srv := livetest.Start(t, func(c *config.Config) { c.Limits.MediaPerIP = 2 })
	opts := synth.Options{Send: true, Record: true, VideoBitrate: 200_000, FPS: 15}
	users := make([]*livetest.MediaUser, 3)
	for i := range users {
		opts.Source = uint32(i + 1)
		users[i] = livetest.NewMediaUser(t, srv, opts)
	}
	users[0].Offer(t)
	users[1].Offer(t)
	users[0].WaitConnected(t)
	users[1].WaitConnected(t)
	users[2].Offer(t)
	t.Logf("third offer: %s", users[2].WaitForError(t, "media_limit"))
	if peers := srv.Media().Stats().Peers; peers != 2 {
		t.Errorf("%d PeerConnections, want 2", peers)
	}

	users[0].WS.Send("find_partner", nil)
	users[1].WS.Send("find_partner", nil)
	users[1].WaitPackets(t, 1, 30) // the two within the cap are unharmed
	users[0].WaitPackets(t, 2, 30)

	users[0].WS.Close()
	deadline := time.Now().Add(livetest.WaitFor)
	for srv.Media().Stats().Peers != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the closed session's PeerConnection was not released")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The refused offer is still the client's pending one: send it again.
	users[2].WS.Send("webrtc_offer", map[string]string{"sdp": users[2].Media.PC().LocalDescription().SDP})
	users[2].WS.Send("find_partner", nil)
	users[1].WS.Send("find_partner", nil)
	users[2].WaitPackets(t, 2, 30)
}

// TestNoMediaPortLeftIsAClearError gives the server a media port range of
// one port: the second session's offer gets media_unavailable instead of an
// answer without candidates.
func TestNoMediaPortLeftIsAClearError(t *testing.T) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(c.LocalAddr().(*net.UDPAddr).Port)
	c.Close()
	srv := livetest.Start(t, func(c *config.Config) { c.Media.UDPPorts = config.PortRange{Min: port, Max: port} })
	a := livetest.NewMediaUser(t, srv, synth.Options{Source: 1, Send: true})
	b := livetest.NewMediaUser(t, srv, synth.Options{Source: 2, Send: true})
	a.Offer(t)
	a.WaitConnected(t)
	b.Offer(t)
	t.Logf("second offer: %s", b.WaitForError(t, "media_unavailable"))
}
