package livetest

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Message is one decoded server message.
type Message struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// Decode decodes the message's data into v.
func (m Message) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(m.Data, v); err != nil {
		t.Fatalf("decode %s data %s: %v", m.Type, m.Data, err)
	}
}

// Client is a WebSocket client of /ws. One goroutine reads the connection
// into a channel; Close ends it. Methods are for the test goroutine only.
type Client struct {
	t       testing.TB
	conn    *websocket.Conn
	msgs    chan Message
	writeMu sync.Mutex    // one writer at a time
	done    chan struct{} // closed when the reader returns
	err     error         // the reader's final error; read after done
	UserID  string        // from welcome
	Welcome Message       // the welcome message (iceServers and all)
}

// Dial opens /ws with header (nil for none) and reads welcome. The
// response is returned on failure so tests can look at refusals.
func Dial(t testing.TB, url string, header http.Header) (*Client, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: WaitFor}
	conn, resp, err := d.Dial(url, header)
	if err != nil {
		return nil, resp, err
	}
	c := &Client{t: t, conn: conn, msgs: make(chan Message, 256), done: make(chan struct{})}
	go c.read()
	t.Cleanup(c.Close)
	var w struct {
		UserID string `json:"userId"`
	}
	c.Welcome = c.Expect("welcome")
	c.Welcome.Decode(t, &w)
	c.UserID = w.UserID
	return c, resp, nil
}

// MustDial is Dial that fails the test on error.
func MustDial(t testing.TB, url string) *Client {
	t.Helper()
	c, resp, err := Dial(t, url, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	return c
}

func (c *Client) read() {
	defer close(c.done)
	defer close(c.msgs)
	for {
		var m Message
		if err := c.conn.ReadJSON(&m); err != nil {
			c.err = err
			return
		}
		c.msgs <- m
	}
}

// Send writes one message, failing the test on error. For the test
// goroutine only.
func (c *Client) Send(typ string, data any) {
	c.t.Helper()
	if err := c.TrySend(typ, data); err != nil {
		c.t.Fatalf("send %s: %v", typ, err)
	}
}

// TrySend writes one message. Safe for concurrent use (e.g. from a Pion
// callback sending ICE candidates).
func (c *Client) TrySend(typ string, data any) error {
	msg := map[string]any{"type": typ}
	if data != nil {
		msg["data"] = data
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.conn.SetWriteDeadline(time.Now().Add(WaitFor))
	return c.conn.WriteJSON(msg)
}

// Expect returns the next message, failing the test unless it has type typ
// and arrives within WaitFor.
func (c *Client) Expect(typ string) Message {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			c.t.Fatalf("want %s, connection ended: %v", typ, c.err)
		}
		if m.Type != typ {
			c.t.Fatalf("want %s, got %s %s", typ, m.Type, m.Data)
		}
		return m
	case <-time.After(WaitFor):
		c.t.Fatalf("no %s within %v", typ, WaitFor)
	}
	return Message{}
}

// ExpectUntil skips messages until one of type typ, and returns it.
func (c *Client) ExpectUntil(typ string) Message {
	c.t.Helper()
	deadline := time.After(WaitFor)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatalf("want %s, connection ended: %v", typ, c.err)
			}
			if m.Type == typ {
				return m
			}
		case <-deadline:
			c.t.Fatalf("no %s within %v", typ, WaitFor)
		}
	}
}

// Messages is the channel of received messages, closed when the connection
// ends (for tests that drive their own loop).
func (c *Client) Messages() <-chan Message { return c.msgs }

// ExpectClosed waits until the server closes the connection, skipping
// messages, and returns the close status (0 if the connection ended
// without a close frame).
func (c *Client) ExpectClosed() int {
	c.t.Helper()
	deadline := time.After(WaitFor)
	for {
		select {
		case _, ok := <-c.msgs:
			if ok {
				continue
			}
			var ce *websocket.CloseError
			if errors.As(c.err, &ce) {
				return ce.Code
			}
			return 0
		case <-deadline:
			c.t.Fatalf("connection still open after %v", WaitFor)
		}
	}
}

// Close closes the connection and waits for the reader. Idempotent.
func (c *Client) Close() {
	c.conn.Close()
	for range c.msgs { // drain, so the reader can finish
	}
	<-c.done
}
