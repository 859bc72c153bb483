package livetest

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// DialFrom is Dial for a client claiming the address ip (X-Forwarded-For),
// which a server that trusts 127.0.0.1 as a reverse proxy takes as the
// client's address.
func DialFrom(t testing.TB, url, ip string) (*Client, *http.Response, error) {
	t.Helper()
	return Dial(t, url, http.Header{"X-Forwarded-For": {ip}})
}

// BanError is the data of an `error` with code banned.
type BanError struct {
	Code   string `json:"code"`
	Until  string `json:"until"`
	Reason string `json:"reason"`
}

// ExpectBannedAtDial checks that a client from ip (see DialFrom) gets no
// welcome but an `error` banned, then a close with status 1008, and returns
// the error's data.
func ExpectBannedAtDial(t testing.TB, url, ip string) BanError {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(url, http.Header{"X-Forwarded-For": {ip}})
	if err != nil {
		t.Fatalf("dial as %s: %v", ip, err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(WaitFor))
	var msg struct {
		Type string   `json:"type"`
		Data BanError `json:"data"`
	}
	if err := conn.ReadJSON(&msg); err != nil || msg.Type != "error" || msg.Data.Code != "banned" {
		t.Fatalf("%s: got %+v, %v; want error banned", ip, msg, err)
	}
	_, _, err = conn.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
		t.Fatalf("%s: after banned: %v, want close 1008", ip, err)
	}
	return msg.Data
}
