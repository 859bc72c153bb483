package signaling

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemchat/tandem/internal/testlog"
	"github.com/tandemchat/tandem/moderation"
)

// openModeration opens the real moderation rules on a fresh data directory.
func openModeration(t testing.TB, edit func(*moderation.Config)) *moderation.Moderator {
	t.Helper()
	cfg := moderation.DefaultConfig()
	cfg.DataDir = t.TempDir()
	if edit != nil {
		edit(&cfg)
	}
	log, _ := testlog.NewLogger(t, "moderation log", slog.LevelInfo)
	m, err := moderation.Open(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// withModeration is a newTestHub edit that plugs in m.
func withModeration(m *moderation.Moderator) func(*Options) {
	return func(o *Options) { o.Moderation = m }
}

func TestReportEndsThePairAndStoresTheLastChatLines(t *testing.T) {
	mod := openModeration(t, nil)
	h := newTestHub(t, withModeration(mod))
	a, b := h.dial(t), h.dial(t)
	a.send("find_partner", map[string]any{"interests": []string{"Music"}})
	a.expect("waiting_for_partner")
	b.send("find_partner", map[string]any{"interests": []string{"music"}})
	var room partnerFoundData
	b.expect("partner_found").field(t, &room)
	a.expect("partner_found")
	for i := range evidenceLines + 5 { // both sides, more than the room keeps
		from, to := a, b
		if i%2 == 1 {
			from, to = b, a
		}
		from.send("chat_message", map[string]string{"text": fmt.Sprintf("line %d", i)})
		to.expect("chat_message")
	}
	a.send("report_partner", map[string]string{"reason": "harassment", "comment": "rude"})
	b.expectPartnerLeft(ReasonNext)
	a.expect("waiting_for_partner") // queued again, as with next_partner
	var rr reportReceivedData
	a.expect("report_received").field(t, &rr)

	r, err := mod.Report(rr.ReportID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Reason != "harassment" || r.Comment != "rude" || r.Reporter.UserID != a.id || r.Reported.UserID != b.id ||
		r.RoomID != room.RoomID || r.Reported.IP != "127.0.0.1" || len(r.Reported.Interests) != 1 || r.RoomDuration <= 0 {
		t.Fatalf("report %+v", r)
	}
	if len(r.Chat) != evidenceLines || r.Chat[0].Text != "line 5" || r.Chat[evidenceLines-1].Text != "line 24" ||
		r.Chat[0].From != b.id || r.Chat[1].From != a.id {
		t.Fatalf("evidence %+v", r.Chat)
	}

	// The two are never paired again, even sharing an interest with nobody else waiting.
	b.send("find_partner", map[string]any{"interests": []string{"music"}})
	b.expect("waiting_for_partner")
	if got := h.Stats().WaitingUsers; got != 2 {
		t.Fatalf("%d waiting, want a and b", got)
	}
}

func TestBlockedPairIsNeverMatchedAgainWhileOthersWait(t *testing.T) {
	h := newTestHub(t, nil)
	a, b := h.dial(t), h.dial(t)
	pair(t, a, b)
	a.send("block_partner", nil)
	b.expectPartnerLeft(ReasonNext)
	a.expect("waiting_for_partner")
	b.send("next_partner", nil)
	b.expect("waiting_for_partner") // a waits alone, but a blocked b
	c := h.dial(t)
	c.send("find_partner", nil)
	var fc partnerFoundData
	c.expect("partner_found").field(t, &fc)
	a.expect("partner_found")
	d := h.dial(t)
	d.send("find_partner", nil)
	d.expect("partner_found")
	b.expect("partner_found")
	// a and b wait at the same time again, and still are not paired.
	a.send("leave", nil)
	c.expectPartnerLeft(ReasonLeave)
	b.send("next_partner", nil)
	d.expectPartnerLeft(ReasonNext)
	b.expect("waiting_for_partner")
	a.send("find_partner", nil)
	a.expect("waiting_for_partner")
	if got := h.Stats().WaitingUsers; got != 2 {
		t.Fatalf("%d waiting, want a and b", got)
	}
	a.send("block_partner", nil)
	a.expectError(CodeNotInRoom)
}

func TestReportWithoutPartnerOrReasonIsRefused(t *testing.T) {
	h := newTestHub(t, withModeration(openModeration(t, nil)))
	a := h.dial(t)
	a.send("report_partner", map[string]string{"reason": "spam"})
	a.expectError(CodeNotInRoom)
	a.send("report_partner", map[string]string{"reason": "boring"})
	a.expectError(CodeBadMessage)
	a.send("report_partner", map[string]any{"reason": "spam", "comment": string(make([]rune, 501))})
	a.expectError(CodeBadMessage)
}

// testClock is a settable clock for the find/next limit.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestChurnLimitTriggersAndExpires(t *testing.T) {
	clk := &testClock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	h := newTestHub(t, func(o *Options) { o.NextPerMinute = 3; o.Now = clk.now })
	a := h.dial(t)
	a.send("find_partner", nil)
	a.expect("waiting_for_partner")
	a.send("next_partner", nil)
	a.expect("waiting_for_partner")
	a.send("next_partner", nil)
	a.expect("waiting_for_partner")
	a.send("next_partner", nil)
	e := a.expectError(CodeSlowDown)
	if e.RetryAfter != 20 {
		t.Fatalf("retryAfter %d, want 20 (3 a minute)", e.RetryAfter)
	}
	a.send("find_partner", nil) // find counts too
	a.expectError(CodeSlowDown)
	a.send("block_partner", nil) // block (and report) queue again, so they count too
	a.expectError(CodeSlowDown)
	clk.add(20 * time.Second)
	a.send("next_partner", nil)
	a.expect("waiting_for_partner")
	a.send("next_partner", nil)
	a.expectError(CodeSlowDown)
}

func TestTermsGateRefusesFindUntilAccepted(t *testing.T) {
	h := newTestHub(t, func(o *Options) { o.Terms = "Be 18 or older." })
	c := h.dialRaw(t)
	var w welcomeData
	c.expect("welcome").field(t, &w)
	if w.Terms != "Be 18 or older." {
		t.Fatalf("welcome terms %q", w.Terms)
	}
	c.send("find_partner", nil)
	c.expectError(CodeTermsRequired)
	c.send("next_partner", nil)
	c.expectError(CodeTermsRequired)
	c.send("accept_terms", nil)
	c.send("find_partner", nil)
	c.expect("waiting_for_partner")
}

func TestChatLinkPolicy(t *testing.T) {
	for _, tc := range []struct{ policy, in, want, code string }{
		{"allow", "see example.com/x", "see example.com/x", ""},
		{"strip", "see https://spam.example/x now", "see [link removed] now", ""},
		{"strip", "www.spam.test and shop.ru", "[link removed] and [link removed]", ""},
		{"strip", "no link here. ok", "no link here. ok", ""},
		{"refuse", "go to spam.com", "", CodeLinkRefused},
	} {
		t.Run(tc.policy+" "+tc.in, func(t *testing.T) {
			h := newTestHub(t, func(o *Options) { o.ChatLinks = tc.policy })
			a, b := h.dial(t), h.dial(t)
			pair(t, a, b)
			a.send("chat_message", map[string]string{"text": tc.in})
			if tc.code != "" {
				a.expectError(tc.code)
				return
			}
			var got chatOutData
			b.expect("chat_message").field(t, &got)
			if got.Text != tc.want {
				t.Fatalf("partner got %q, want %q", got.Text, tc.want)
			}
		})
	}
}

func TestBanEndsConnectedSessionsAndRefusesNewOnes(t *testing.T) {
	mod := openModeration(t, nil)
	h := newTestHub(t, withModeration(mod))
	mod.OnBan(func(moderation.Ban) { h.EnforceBans() })
	a, b := h.dial(t), h.dial(t)
	pair(t, a, b)
	if _, err := mod.Ban("127.0.0.1", "spam", time.Hour, "admin"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{a, b} {
		msg := c.next()
		for msg.Type == "partner_left" {
			msg = c.next()
		}
		var e errorData
		msg.field(t, &e)
		if e.Code != CodeBanned || e.Reason != "spam" || e.Until == "" {
			t.Fatalf("got %s %s", msg.Type, msg.Data)
		}
		expectClose(t, c, websocket.ClosePolicyViolation)
	}
	c := h.dialRaw(t)
	e := c.expectError(CodeBanned)
	if until, err := time.Parse(time.RFC3339, e.Until); err != nil || until.Before(time.Now().Add(59*time.Minute)) {
		t.Fatalf("until %q: %v", e.Until, err)
	}
	expectClose(t, c, websocket.ClosePolicyViolation)
	if got := h.Stats().RefusedBanned; got != 1 {
		t.Fatalf("RefusedBanned %d", got)
	}
}

// expectClose waits for the server to close c with code.
func expectClose(t testing.TB, c *client, code int) {
	t.Helper()
	err := c.expectClosed()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("closed with %v, want %d", err, code)
	}
}
