package signaling

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestWelcomeCarriesUserIDAndICEServers(t *testing.T) {
	h := newTestHub(t, nil)
	c := h.dialRaw(t)
	var w welcomeData
	c.expect("welcome").field(t, &w)
	if _, err := uuid.Parse(w.UserID); err != nil {
		t.Fatalf("userId %q is not a UUID", w.UserID)
	}
	if w.Protocol != 1 {
		t.Fatalf("protocol %d, want 1", w.Protocol)
	}
	if len(w.ICEServers) != 1 || w.ICEServers[0].Username != "u:"+w.UserID ||
		!strings.HasPrefix(w.ICEServers[0].URLs[0], "turn:127.0.0.1:") {
		t.Fatalf("iceServers %+v not made for this user and host", w.ICEServers)
	}
}

func TestMatchChatAndTyping(t *testing.T) {
	h := newTestHub(t, nil)
	a, b := h.dial(t), h.dial(t)
	room := pair(t, a, b)
	if _, ok := h.Room(room); !ok {
		t.Fatalf("room %s not listed", room)
	}

	a.send("chat_message", map[string]string{"text": "hello <b>stranger</b>"})
	var chat chatOutData
	b.expect("chat_message").field(t, &chat)
	if chat.Text != "hello <b>stranger</b>" {
		t.Fatalf("text %q", chat.Text)
	}
	if sent, err := time.Parse(time.RFC3339, chat.SentAt); err != nil || time.Since(sent) > time.Minute {
		t.Fatalf("sentAt %q is not a current RFC 3339 time", chat.SentAt)
	}
	// Not echoed: the next thing a sees is b's typing, not its own chat.
	b.send("typing", map[string]bool{"active": true})
	var typing typingOutData
	a.expect("partner_typing").field(t, &typing)
	if !typing.Active {
		t.Fatal("partner_typing active=false, want true")
	}
}

func TestCommonInterestsReported(t *testing.T) {
	h := newTestHub(t, nil)
	a, b := h.dial(t), h.dial(t)
	a.send("find_partner", map[string]any{"interests": []string{"Music", "go"}})
	a.expect("waiting_for_partner")
	b.send("find_partner", map[string]any{"interests": []string{"art", "music"}})
	var f partnerFoundData
	b.expect("partner_found").field(t, &f)
	if len(f.CommonInterests) != 1 || f.CommonInterests[0] != "music" {
		t.Fatalf("commonInterests %v, want [music]", f.CommonInterests)
	}
	a.expect("partner_found")
}

func TestInterestWaitFallsBackToAnyone(t *testing.T) {
	h := newTestHub(t, func(o *Options) { o.InterestWait = 50 * time.Millisecond })
	a, b := h.dial(t), h.dial(t)
	a.send("find_partner", nil)
	a.expect("waiting_for_partner")
	b.send("find_partner", map[string]any{"interests": []string{"chess"}})
	b.expect("waiting_for_partner")
	var f partnerFoundData
	b.expect("partner_found").field(t, &f) // after the interest wait
	if len(f.CommonInterests) != 0 {
		t.Fatalf("commonInterests %v, want none", f.CommonInterests)
	}
	a.expect("partner_found")
}

func TestNextRepairsWithWaitingStranger(t *testing.T) {
	h := newTestHub(t, nil)
	a, b, c := h.dial(t), h.dial(t), h.dial(t)
	pair(t, a, b)
	c.send("find_partner", nil)
	c.expect("waiting_for_partner")

	a.send("next_partner", nil)
	b.expectPartnerLeft(ReasonNext)
	a.expect("partner_found")
	c.expect("partner_found")
	// b is idle, not queued.
	if s := h.Stats(); s.WaitingUsers != 0 || s.ActiveRooms != 1 {
		t.Fatalf("stats %+v, want 0 waiting and 1 room", s)
	}
	b.send("chat_message", map[string]string{"text": "anyone?"})
	b.expectError(CodeNotInRoom)
}

func TestNextDoesNotRepairSamePartnerWhileOthersWait(t *testing.T) {
	h := newTestHub(t, func(o *Options) { o.InterestWait = time.Hour })
	a, b, c := h.dial(t), h.dial(t), h.dial(t)
	a.send("find_partner", map[string]any{"interests": []string{"go"}})
	a.expect("waiting_for_partner")
	b.send("find_partner", map[string]any{"interests": []string{"go"}})
	b.expect("partner_found")
	a.expect("partner_found")
	c.send("find_partner", nil) // waits: a and b only take someone sharing "go" for now
	c.expect("waiting_for_partner")

	a.send("next_partner", nil)
	b.expectPartnerLeft(ReasonNext)
	a.expect("waiting_for_partner")
	b.send("next_partner", nil)
	b.expect("waiting_for_partner") // not a, who also waits, since c waits too
	if s := h.Stats(); s.WaitingUsers != 3 || s.ActiveRooms != 0 {
		t.Fatalf("stats %+v, want 3 waiting and no room", s)
	}
}

func TestNextWithNobodyElseRepairsTheTwo(t *testing.T) {
	h := newTestHub(t, nil)
	a, b := h.dial(t), h.dial(t)
	pair(t, a, b)
	a.send("next_partner", nil)
	b.expectPartnerLeft(ReasonNext)
	a.expect("waiting_for_partner")
	b.send("find_partner", nil)
	b.expect("partner_found")
	a.expect("partner_found")
}

func TestLeave(t *testing.T) {
	h := newTestHub(t, nil)
	a, b := h.dial(t), h.dial(t)
	pair(t, a, b)
	a.send("leave", nil)
	b.expectPartnerLeft(ReasonLeave)
	a.send("typing", map[string]bool{"active": true})
	a.expectError(CodeNotInRoom) // a got no partner_left: the next message is this error

	// leave while waiting takes the user out of the queue.
	a.send("find_partner", nil)
	a.expect("waiting_for_partner")
	a.send("leave", nil)
	eventually(t, "queue to empty", func() bool { return h.Stats().WaitingUsers == 0 })
}

func TestPartnerDisconnect(t *testing.T) {
	h := newTestHub(t, nil)
	a, b := h.dial(t), h.dial(t)
	pair(t, a, b)
	a.conn.Close()
	b.expectPartnerLeft(ReasonDisconnect)
	eventually(t, "session removed", func() bool {
		s := h.Stats()
		return s.ConnectedUsers == 1 && s.ActiveRooms == 0
	})
}

func TestFindWhilePairedIsRefused(t *testing.T) {
	h := newTestHub(t, nil)
	a, b := h.dial(t), h.dial(t)
	pair(t, a, b)
	a.send("find_partner", nil)
	a.expectError(CodeAlreadyPaired)
}

func TestErrorCodes(t *testing.T) {
	h := newTestHub(t, nil)
	c := h.dial(t)
	cases := []struct {
		name, frame, code string
	}{
		{"not json", `{"type":`, CodeBadMessage},
		{"not an object", `[1,2]`, CodeBadMessage},
		{"no type", `{"data":{}}`, CodeBadMessage},
		{"unknown type", `{"type":"dance"}`, CodeUnknownType},
		{"chat text not a string", `{"type":"chat_message","data":{"text":5}}`, CodeBadMessage},
		{"chat without text", `{"type":"chat_message","data":{}}`, CodeBadMessage},
		{"chat empty", `{"type":"chat_message","data":{"text":""}}`, CodeBadMessage},
		{"chat too long", `{"type":"chat_message","data":{"text":"` + strings.Repeat("é", 1001) + `"}}`, CodeBadMessage},
		{"chat without partner", `{"type":"chat_message","data":{"text":"hi"}}`, CodeNotInRoom},
		{"typing not bool", `{"type":"typing","data":{"active":"yes"}}`, CodeBadMessage},
		{"typing without partner", `{"type":"typing","data":{"active":true}}`, CodeNotInRoom},
		{"too many interests", `{"type":"find_partner","data":{"interests":["a","b","c","d","e","f","g","h","i","j","k"]}}`, CodeBadMessage},
		{"interests not a list", `{"type":"find_partner","data":{"interests":"go"}}`, CodeBadMessage},
		{"offer without sdp", `{"type":"webrtc_offer","data":{}}`, CodeBadSDP},
		{"garbage offer", `{"type":"webrtc_offer","data":{"sdp":"v=0 garbage"}}`, CodeBadSDP},
		{"data not an object", `{"type":"typing","data":7}`, CodeBadMessage},
	}
	for _, tc := range cases {
		c.sendRaw(tc.frame)
		var e errorData
		c.expect("error").field(t, &e)
		if e.Code != tc.code || e.Message == "" {
			t.Errorf("%s: got %q (%s), want %q", tc.name, e.Code, e.Message, tc.code)
		}
	}
	// Unknown fields are ignored.
	c.sendRaw(`{"type":"leave","data":{"whatever":1},"extra":true}`)
	c.sendRaw(`{"type":"typing","data":{"active":true}}`)
	c.expectError(CodeNotInRoom)
	// A binary frame gets bad_message and the connection stays open.
	if err := c.conn.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	c.expectError(CodeBadMessage)
	c.send("find_partner", nil)
	c.expect("waiting_for_partner")
}

func TestChatRateLimited(t *testing.T) {
	h := newTestHub(t, func(o *Options) { o.ChatMessages, o.ChatWindow = 3, time.Hour })
	a, b := h.dial(t), h.dial(t)
	pair(t, a, b)
	for i := 0; i < 3; i++ {
		a.send("chat_message", map[string]string{"text": "hi"})
		b.expect("chat_message")
	}
	a.send("chat_message", map[string]string{"text": "one too many"})
	a.expectError(CodeRateLimited)
	// Other messages are not limited by the chat limit.
	a.send("typing", map[string]bool{"active": false})
	b.expect("partner_typing")
}

func TestMessageFloodRateLimited(t *testing.T) {
	h := newTestHub(t, func(o *Options) { o.MessagesPerSecond = 1 })
	c := h.dial(t)
	for i := 0; i < 3; i++ { // burst of 2, then limited
		c.send("leave", nil)
	}
	c.expectError(CodeRateLimited)
}

func TestOversizedFrameClosesWith1009(t *testing.T) {
	h := newTestHub(t, nil)
	a, b := h.dial(t), h.dial(t)
	pair(t, a, b)
	a.sendRaw(`{"type":"chat_message","data":{"text":"` + strings.Repeat("x", MaxFrameBytes) + `"}}`)
	err := a.expectClosed()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("closed with %v, want status 1009", err)
	}
	b.expectPartnerLeft(ReasonDisconnect)
}

func TestSlowReaderIsDisconnected(t *testing.T) {
	h := newTestHub(t, func(o *Options) {
		o.SendQueue = 8
		o.ChatMessages, o.MessagesPerSecond = 1_000_000, 1_000_000
	})
	a := h.dial(t)
	a.send("find_partner", nil)
	a.expect("waiting_for_partner")
	// slow reads until it is paired, then never again: its socket buffers
	// fill, then its send queue.
	slow, _, err := websocket.DefaultDialer.Dial(h.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if err := slow.WriteJSON(outEnvelope{Type: "find_partner"}); err != nil {
		t.Fatal(err)
	}
	for got := ""; !strings.Contains(got, "partner_found"); {
		_, b, err := slow.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		got = string(b)
	}
	a.expect("partner_found")

	// a sends chats until the hub drops slow. Every few chats a round trip (an unknown type,
	// answered with an error) keeps a's frames in flight few: after the room ends, each
	// chat still in flight gets a not_in_room error, and a burst of them would overflow a's
	// own tiny queue on a loaded machine.
	text := strings.Repeat("x", 1000)
	deadline := time.Now().Add(waitFor)
	for {
		if time.Now().After(deadline) {
			t.Fatal("slow reader still connected")
		}
		for range 3 {
			a.send("chat_message", map[string]string{"text": text})
		}
		a.send("sync", nil)
		m := a.next()
		if m.Type == "partner_left" {
			var d partnerLeftData
			m.field(t, &d)
			if d.Reason != ReasonDisconnect {
				t.Fatalf("partner_left reason %q, want %q", d.Reason, ReasonDisconnect)
			}
			break
		}
		if m.Type != "error" {
			t.Fatalf("got %s %s, want the answer to the round trip", m.Type, m.Data)
		}
	}
	if !h.logs.Contains("disconnecting slow client") {
		t.Fatal("the slow client was not dropped for its full send queue")
	}
}

func TestSilentClientDropped(t *testing.T) {
	h := newTestHub(t, func(o *Options) {
		o.PingInterval, o.ReadTimeout = 20*time.Millisecond, 200*time.Millisecond
	})
	a := h.dial(t)
	// b never answers pings (and sends nothing after pairing).
	b := h.dialRaw(t, func(c *websocket.Conn) { c.SetPingHandler(func(string) error { return nil }) })
	b.expect("welcome")
	pair(t, a, b)
	b.expectClosed()
	a.expectPartnerLeft(ReasonDisconnect)
}

func TestDrainRefusesNewMatchesAndEndsPairsLater(t *testing.T) {
	h := newTestHub(t, nil)
	a, b, c, d := h.dial(t), h.dial(t), h.dial(t), h.dial(t)
	pair(t, a, b)
	c.send("find_partner", nil)
	c.expect("waiting_for_partner")

	h.Drain()
	c.expectError(CodeDraining) // taken out of the queue
	d.send("find_partner", nil)
	d.expectError(CodeDraining)
	// A new user is refused before the upgrade, for a load balancer to send
	// it elsewhere.
	if _, resp, err := websocket.DefaultDialer.Dial(h.url, nil); err == nil || resp == nil ||
		resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a new WebSocket while draining: %v, %+v", err, resp)
	}
	a.send("chat_message", map[string]string{"text": "still here"})
	b.expect("chat_message")

	h.EndAllRooms()
	a.expectPartnerLeft(ReasonEnded)
	b.expectPartnerLeft(ReasonEnded)
	a.send("next_partner", nil)
	a.expectError(CodeDraining)
}

func TestEndRoomAndDisconnect(t *testing.T) {
	h := newTestHub(t, nil)
	a, b := h.dial(t), h.dial(t)
	room := pair(t, a, b)
	if !h.EndRoom(room) {
		t.Fatal("EndRoom reported no room")
	}
	a.expectPartnerLeft(ReasonEnded)
	b.expectPartnerLeft(ReasonEnded)
	if h.EndRoom(room) {
		t.Fatal("EndRoom of an ended room reported true")
	}
	if !h.Disconnect(a.id) {
		t.Fatal("Disconnect reported no user")
	}
	a.expectClosed()
	if h.Disconnect("no-such-user") {
		t.Fatal("Disconnect of an unknown user reported true")
	}
}

func TestOriginCheck(t *testing.T) {
	h := newTestHub(t, func(o *Options) { o.AllowedOrigins = []string{"https://chat.example.org"} })
	dial := func(origin string) error {
		hdr := map[string][]string{"Origin": {origin}}
		conn, _, err := websocket.DefaultDialer.Dial(h.url, hdr)
		if err == nil {
			conn.Close()
		}
		return err
	}
	host := strings.TrimPrefix(strings.TrimSuffix(h.url, "/ws"), "ws://")
	if err := dial("http://" + host); err != nil {
		t.Fatalf("same-host origin refused: %v", err)
	}
	if err := dial("https://chat.example.org"); err != nil {
		t.Fatalf("allowed origin refused: %v", err)
	}
	if err := dial("https://evil.example.com"); err == nil {
		t.Fatal("foreign origin accepted")
	}
}

func TestSessionEndedIsReportedOnceForEveryWayASessionEnds(t *testing.T) {
	var mu sync.Mutex
	ended := map[string]int{}
	h := newTestHub(t, func(o *Options) {
		o.SessionEnded = func(id string) { mu.Lock(); ended[id]++; mu.Unlock() }
	})
	count := func(id string) int { mu.Lock(); defer mu.Unlock(); return ended[id] }
	kicked, leaver, stayer := h.dial(t), h.dial(t), h.dial(t)

	if !h.Disconnect(kicked.id) { // the operator's disconnect
		t.Fatal("Disconnect reported no user")
	}
	kicked.expectClosed()
	leaver.conn.Close() // the client goes away
	eventually(t, "both sessions reported ended", func() bool {
		return count(kicked.id) == 1 && count(leaver.id) == 1
	})
	if n := count(stayer.id); n != 0 {
		t.Fatalf("a live session was reported ended %d times", n)
	}
}
