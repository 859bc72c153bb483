package signaling

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemchat/tandem/internal/testlog"
)

// waitFor is how long a test waits for one expected event.
const waitFor = 10 * time.Second

// testHub is a Hub served on loopback by httptest.
type testHub struct {
	*Hub
	media *fakeMedia
	url   string // ws://127.0.0.1:port/ws
	logs  *testlog.Buffer
}

// newTestHub starts a hub with the default signaling settings, changed by edit.
func newTestHub(t testing.TB, edit func(*Options)) *testHub {
	t.Helper()
	log, logs := testlog.NewLogger(t, "hub log", slog.LevelInfo)
	media := newFakeMedia()
	opts := Options{Config: DefaultConfig()}
	opts.ICEServers = func(userID, host string) []ICEServer {
		return []ICEServer{{URLs: []string{"turn:" + host + ":3478?transport=udp"}, Username: "u:" + userID, Credential: "c"}}
	}
	if edit != nil {
		edit(&opts)
	}
	hub := NewHub(opts, media, log)
	srv := httptest.NewServer(hub)
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
	})
	return &testHub{Hub: hub, media: media, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", logs: logs}
}

// message is a decoded server message.
type message struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

func (m message) field(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(m.Data, v); err != nil {
		t.Fatalf("decode %s data %s: %v", m.Type, m.Data, err)
	}
}

// client is a WebSocket client whose messages arrive on a channel.
type client struct {
	t      testing.TB
	conn   *websocket.Conn
	in     chan message
	closed chan error // receives the read error that ended the connection
	id     string
}

// dial connects a client and reads its welcome.
func (h *testHub) dial(t testing.TB) *client {
	t.Helper()
	c := h.dialRaw(t)
	var w welcomeData
	c.expect("welcome").field(t, &w)
	c.id = w.UserID
	return c
}

// dialRaw connects a client without reading anything; prepare, if given,
// changes the connection before its reader starts.
func (h *testHub) dialRaw(t testing.TB, prepare ...func(*websocket.Conn)) *client {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(h.url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	for _, p := range prepare {
		p(conn)
	}
	c := &client{t: t, conn: conn, in: make(chan message, 1024), closed: make(chan error, 1)}
	go c.readLoop()
	t.Cleanup(func() { conn.Close() })
	return c
}

func (c *client) readLoop() {
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			c.closed <- err
			close(c.in)
			return
		}
		var m message
		if err := json.Unmarshal(data, &m); err != nil {
			m = message{Type: "<not json>", Data: data}
		}
		c.in <- m
	}
}

func (c *client) send(typ string, data any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(outEnvelope{Type: typ, Data: data}); err != nil {
		c.t.Fatalf("send %s: %v", typ, err)
	}
}

func (c *client) sendRaw(frame string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// next returns the next message, failing the test after waitFor.
func (c *client) next() message {
	c.t.Helper()
	select {
	case m, ok := <-c.in:
		if !ok {
			c.t.Fatalf("connection closed while waiting for a message")
		}
		return m
	case <-time.After(waitFor):
		c.t.Fatalf("no message within %v", waitFor)
	}
	return message{}
}

// expect returns the next message, which must have type typ.
func (c *client) expect(typ string) message {
	c.t.Helper()
	m := c.next()
	if m.Type != typ {
		c.t.Fatalf("got %s %s, want %s", m.Type, m.Data, typ)
	}
	return m
}

// expectError reads the next message, which must be an error with code.
func (c *client) expectError(code string) errorData {
	c.t.Helper()
	var e errorData
	c.expect("error").field(c.t, &e)
	if e.Code != code {
		c.t.Fatalf("error code %q (%s), want %q", e.Code, e.Message, code)
	}
	if e.Message == "" {
		c.t.Fatalf("error %q has no message", code)
	}
	return e
}

// expectPartnerLeft reads a partner_left with reason.
func (c *client) expectPartnerLeft(reason string) {
	c.t.Helper()
	var d partnerLeftData
	c.expect("partner_left").field(c.t, &d)
	if d.Reason != reason {
		c.t.Fatalf("partner_left reason %q, want %q", d.Reason, reason)
	}
}

// expectClosed waits until the server closes the connection and returns the error.
func (c *client) expectClosed() error {
	c.t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case _, ok := <-c.in:
			if !ok {
				return <-c.closed
			}
		case <-deadline:
			c.t.Fatalf("connection not closed within %v", waitFor)
			return nil
		}
	}
}

// pair sends find_partner from a then b and returns the room id both got.
func pair(t testing.TB, a, b *client) string {
	t.Helper()
	a.send("find_partner", nil)
	a.expect("waiting_for_partner")
	b.send("find_partner", nil)
	var fa, fb partnerFoundData
	b.expect("partner_found").field(t, &fb)
	a.expect("partner_found").field(t, &fa)
	if fa.RoomID == "" || fa.RoomID != fb.RoomID {
		t.Fatalf("room ids differ: %q %q", fa.RoomID, fb.RoomID)
	}
	return fa.RoomID
}

// eventually polls cond until it holds, failing after waitFor.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
