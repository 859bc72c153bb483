package access_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/livetest"
)

const jwtSecret = "ws-test-secret"

func token(t *testing.T, sub string, exp time.Time) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "exp": exp.Unix()}).
		SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// refused dials url expecting the handshake to be refused with status, and
// returns the JSON body's code and error.
func refused(t *testing.T, url string, header http.Header, status int) (code, reason string) {
	t.Helper()
	c, resp, err := livetest.Dial(t, url, header)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s: admitted, want HTTP %d", url, status)
	}
	if resp == nil || resp.StatusCode != status {
		t.Fatalf("dial %s: %v (response %v), want HTTP %d", url, err, resp, status)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body struct{ Code, Error string }
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("refusal body %q: %v", raw, err)
	}
	return body.Code, body.Error
}

func TestWebSocketTokensAcceptedRefusedAndExpired(t *testing.T) {
	srv := livetest.Start(t, func(c *config.Config) { c.Auth.JWTSecret = jwtSecret })

	if code, reason := refused(t, srv.WSURL, nil, http.StatusUnauthorized); code != "unauthorized" || !strings.Contains(reason, "missing") {
		t.Errorf("no token: %s %q", code, reason)
	}
	expired := token(t, "bob", time.Now().Add(-time.Minute))
	if _, reason := refused(t, srv.WSURL+"?token="+expired, nil, http.StatusUnauthorized); !strings.Contains(reason, "expired") {
		t.Errorf("expired token: %q", reason)
	}
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "eve", "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString([]byte("not-the-secret"))
	if _, reason := refused(t, srv.WSURL+"?token="+forged, nil, http.StatusUnauthorized); !strings.Contains(reason, "signature") {
		t.Errorf("forged token: %q", reason)
	}

	alice := livetest.MustDial(t, srv.WSURL+"?token="+token(t, "alice", time.Now().Add(time.Hour)))
	srv.Logs.WaitForLine(t, "session started", "identity=alice", "user="+alice.UserID)
	carol, _, err := livetest.Dial(t, srv.WSURL, http.Header{"Authorization": {"Bearer " + token(t, "carol", time.Now().Add(time.Hour))}})
	if err != nil {
		t.Fatalf("token in Authorization header: %v", err)
	}
	srv.Logs.WaitForLine(t, "session started", "identity=carol", "user="+carol.UserID)

	// Authenticated users talk as usual.
	alice.Send("find_partner", nil)
	alice.Expect("waiting_for_partner")
	carol.Send("find_partner", nil)
	alice.ExpectUntil("partner_found")
	carol.ExpectUntil("partner_found")
}

func TestWebSocketWithoutASecretIsAnonymous(t *testing.T) {
	srv := livetest.Start(t, nil)
	c := livetest.MustDial(t, srv.WSURL)
	line := srv.Logs.WaitForLine(t, "session started", "user="+c.UserID)
	if strings.Contains(line, "identity=") {
		t.Fatalf("anonymous session logged an identity: %s", line)
	}
}

func TestWebSocketSessionsPerIPLimit(t *testing.T) {
	srv := livetest.Start(t, func(c *config.Config) { c.Limits.SessionsPerIP = 2 })
	first := livetest.MustDial(t, srv.WSURL)
	livetest.MustDial(t, srv.WSURL)
	if code, reason := refused(t, srv.WSURL, nil, http.StatusTooManyRequests); code != "too_many_sessions" || reason == "" {
		t.Fatalf("third session: %s %q", code, reason)
	}
	// Once a session ends its slot frees up (the server notices the close
	// asynchronously, so poll with a deadline).
	first.Close()
	deadline := time.Now().Add(livetest.WaitFor)
	for {
		c, resp, err := livetest.Dial(t, srv.WSURL, nil)
		if err == nil {
			c.Close()
			break
		}
		if resp == nil || resp.StatusCode != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("after closing a session: %v (%v)", err, resp)
		}
		time.Sleep(200 * time.Millisecond) // well under the per-minute limit over WaitFor
	}
}

func TestWebSocketConnectionsPerMinuteLimit(t *testing.T) {
	srv := livetest.Start(t, func(c *config.Config) { c.Limits.ConnectionsPerMinute = 3 })
	for range 3 {
		livetest.MustDial(t, srv.WSURL).Close()
	}
	code, reason := refused(t, srv.WSURL, nil, http.StatusTooManyRequests)
	if code != "rate_limited" || !strings.Contains(reason, "3 a minute") {
		t.Fatalf("fourth connection in a minute: %s %q", code, reason)
	}
}

func TestWebSocketBehindATrustedProxyCountsTheForwardedClient(t *testing.T) {
	srv := livetest.Start(t, func(c *config.Config) {
		c.HTTP.TrustedProxies = []string{"127.0.0.1"}
		c.Limits.SessionsPerIP = 1
	})
	via := func(client string) http.Header { return http.Header{"X-Forwarded-For": {client}} }
	first, _, err := livetest.Dial(t, srv.WSURL, via("203.0.113.5"))
	if err != nil {
		t.Fatalf("first client through the proxy: %v", err)
	}
	srv.Logs.WaitForLine(t, "session started", "user="+first.UserID, "remote=203.0.113.5")
	if _, _, err := livetest.Dial(t, srv.WSURL, via("203.0.113.6")); err != nil {
		t.Fatalf("another client through the same proxy must not share the first one's limit: %v", err)
	}
	if code, _ := refused(t, srv.WSURL, via("203.0.113.5"), http.StatusTooManyRequests); code != "too_many_sessions" {
		t.Fatalf("second session of 203.0.113.5: %s, want too_many_sessions", code)
	}
}
