package signaling

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The attacks of issue 12 on signaling, each against the default limits.

func TestTypingFloodLeavesThePromptReaderConnected(t *testing.T) {
	h := newTestHub(t, nil) // default limits: 50 messages/s (burst 100), send queue 64
	flooder, reader := h.dial(t), h.dial(t)
	pair(t, flooder, reader)

	// Within the burst, every typing message is accepted: before coalescing, the reader's
	// queue overflowed and it was cut off as a slow client.
	const n = 95
	for i := range n {
		flooder.send("typing", map[string]bool{"active": i%2 == 0})
	}
	flooder.send("chat_message", map[string]string{"text": "after the flood"})
	typing, last := 0, false
	for {
		m := reader.next()
		if m.Type == "chat_message" {
			break
		}
		if m.Type != "partner_typing" {
			t.Fatalf("reader got %s %s", m.Type, m.Data)
		}
		var d typingOutData
		m.field(t, &d)
		typing, last = typing+1, d.Active
	}
	if typing == 0 || typing > n {
		t.Fatalf("reader got %d partner_typing for %d typing", typing, n)
	}
	if last != ((n-1)%2 == 0) {
		t.Fatalf("the last partner_typing says active=%v; the flooder's last state was %v", last, (n-1)%2 == 0)
	}
	if got := h.Stats().ConnectedUsers; got != 2 {
		t.Fatalf("%d users connected after the flood, want both", got)
	}
	t.Logf("%d typing messages reached the reader as %d partner_typing", n, typing)
}

func TestFlooderIsRefusedThenClosedAndItsPartnerStays(t *testing.T) {
	// The clock stands still, so the limiter refills nothing while the hub
	// reads the flood, however slowly a loaded machine reads it.
	frozen := time.Now()
	h := newTestHub(t, func(o *Options) { o.Now = func() time.Time { return frozen } })
	flooder, partner := h.dial(t), h.dial(t)
	pair(t, flooder, partner)
	limit := DefaultConfig().MessagesPerSecond
	// The burst (twice the rate), then one more than a rate's worth past it, then nothing, so
	// the close frame is not lost to a reset.
	for range 2*limit + limit + 1 {
		flooder.send("typing", map[string]bool{"active": true})
	}
	var sawRateLimited bool
	deadline := time.After(waitFor)
	for open := true; open; {
		select {
		case m, ok := <-flooder.in:
			open = ok
			if ok && m.Type == "error" {
				var e errorData
				m.field(t, &e)
				sawRateLimited = sawRateLimited || e.Code == CodeRateLimited
			}
		case <-deadline:
			t.Fatalf("the flooder is still connected after %v", waitFor)
		}
	}
	err := <-flooder.closed
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
		t.Fatalf("flooder closed with %v, want status 1008", err)
	}
	if !sawRateLimited {
		t.Fatal("the flooder was closed without a rate_limited error first")
	}
	if !h.logs.Contains("disconnecting flooding client") {
		t.Fatal("the flooder was not dropped for flooding")
	}
	for m := partner.next(); m.Type != "partner_left"; m = partner.next() {
		if m.Type != "partner_typing" {
			t.Fatalf("partner got %s %s", m.Type, m.Data)
		}
	}
	partner.send("find_partner", nil)
	partner.expect("waiting_for_partner")
}

func TestOffersAreRateLimitedPerSession(t *testing.T) {
	h := newTestHub(t, nil) // 20 offers a minute, bursts of 5
	c := h.dial(t)
	for range 5 {
		c.send("webrtc_offer", map[string]string{"sdp": "v=0"})
		c.expectError(CodeBadSDP)
	}
	c.send("webrtc_offer", map[string]string{"sdp": "v=0"})
	e := c.expectError(CodeRateLimited)
	t.Logf("sixth offer: %s", e.Message)
	other := h.dial(t) // another session has its own budget
	other.send("webrtc_offer", map[string]string{"sdp": "v=0"})
	other.expectError(CodeBadSDP)
}

func TestTypingIsCoalescedWhileTheWriterIsBusy(t *testing.T) {
	h := newTestHub(t, nil)
	s := h.detachedSession()
	defer h.unregister(s)
	s.send = make(chan []byte, 4) // a small queue whose writer is stalled (nothing drains it)
	for i := range 100 {
		s.queueTyping(i%2 == 0)
	}
	select {
	case <-s.done:
		t.Fatal("the session was cut off by its partner's typing")
	default:
	}
	if n := len(s.send); n != 1 {
		t.Fatalf("%d frames queued for 100 typing updates, want 1", n)
	}
	var got struct {
		Type string        `json:"type"`
		Data typingOutData `json:"data"`
	}
	if err := json.Unmarshal(s.resolve(<-s.send), &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != "partner_typing" || got.Data.Active {
		t.Fatalf("writer sent %+v, want partner_typing with the latest state (active=false)", got)
	}
	s.queueTyping(true) // once written, the next change is queued again
	if n := len(s.send); n != 1 {
		t.Fatalf("after the writer took the marker, a new change queued %d frames, want 1", n)
	}
}
