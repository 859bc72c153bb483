package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/livetest"
)

// TestShutdownDrainsThenEndsPairsAfterTheGrace checks the graceful shutdown
// of protocol.md: readiness turns 503, new matches are refused with
// draining, pairs go on for the grace period, then get partner_left ended
// and every connection closes with "going away".
func TestShutdownDrainsThenEndsPairsAfterTheGrace(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := livetest.Start(t, func(c *config.Config) { c.HTTP.ShutdownGrace = 500 * time.Millisecond })
	a, b := livetest.MustDial(t, srv.WSURL), livetest.MustDial(t, srv.WSURL)
	a.Send("find_partner", nil)
	a.Expect("waiting_for_partner")
	b.Send("find_partner", nil)
	a.Expect("partner_found")
	b.Expect("partner_found")
	c := livetest.MustDial(t, srv.WSURL)
	c.Send("find_partner", nil)
	c.Expect("waiting_for_partner")

	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- srv.Shutdown(context.Background()) }()

	var e struct {
		Code string `json:"code"`
	}
	c.Expect("error").Decode(t, &e)
	if e.Code != "draining" {
		t.Fatalf("waiting user got %q, want draining", e.Code)
	}
	if code, _ := srv.Do(t, "GET", "/readyz", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz %d while draining", code)
	}
	a.Send("chat_message", map[string]string{"text": "still talking"})
	b.Expect("chat_message")

	for _, cl := range []*livetest.Client{a, b} {
		var left struct {
			Reason string `json:"reason"`
		}
		cl.Expect("partner_left").Decode(t, &left)
		if left.Reason != "ended" {
			t.Fatalf("partner_left %q, want ended", left.Reason)
		}
		if code := cl.ExpectClosed(); code != websocket.CloseGoingAway {
			t.Fatalf("closed with %d, want 1001", code)
		}
	}
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Fatalf("pairs ended after %v, before the grace period", waited)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(livetest.WaitFor):
		t.Fatal("Shutdown did not return")
	}
}
