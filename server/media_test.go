package server_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

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

// waitPackets waits until u's Pion client (with Options.Record) has
// received at least n packets of the client with source.
func waitPackets(t *testing.T, u *livetest.MediaUser, source uint32, n int) {
	t.Helper()
	deadline := time.Now().Add(livetest.WaitFor)
	for {
		got := 0
		for _, p := range u.Media.Packets() {
			if p.Source == source {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d packets of source %d within %v, want %d", got, source, livetest.WaitFor, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	waitPackets(t, b, 1, 30) // a's media reaches b: the valid PeerConnection works
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
