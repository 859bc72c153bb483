package access

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const secret = "test-jwt-secret"

// fakeClock is a settable clock; safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type subjectKey struct{}

// seen is what the wrapped handler saw of one admitted request.
type seen struct {
	remote, subject, query, auth string
}

// guarded serves g.Wrap over a handler that reports what it saw and, if
// hold is not nil, keeps the request (the "session") open until hold closes.
func guarded(t *testing.T, g *Guard, hold <-chan struct{}) (url string, admitted <-chan seen) {
	t.Helper()
	ch := make(chan seen, 100)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub, _ := r.Context().Value(subjectKey{}).(string)
		ch <- seen{remote: r.RemoteAddr, subject: sub, query: r.URL.RawQuery, auth: r.Header.Get("Authorization")}
		if hold != nil {
			<-hold
		}
		io.WriteString(w, "admitted")
	})
	srv := httptest.NewServer(g.Wrap(h))
	t.Cleanup(srv.Close)
	return srv.URL, ch
}

func newGuard(t *testing.T, cfg Config) *Guard {
	t.Helper()
	if cfg.ConnectionsPerMinute == 0 {
		cfg.ConnectionsPerMinute = 1000
	}
	if cfg.SessionsPerIP == 0 {
		cfg.SessionsPerIP = 1000
	}
	cfg.WithSubject = func(ctx context.Context, s string) context.Context {
		return context.WithValue(ctx, subjectKey{}, s)
	}
	g, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func sign(t *testing.T, key string, method jwt.SigningMethod, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// get requests url with an optional header and returns status, the JSON
// body's code and error fields, and the response.
func get(t *testing.T, url string, header http.Header) (int, string, string, *http.Response) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Code, Error string }
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("refusal body %q is not JSON: %v", raw, err)
		}
	}
	return resp.StatusCode, body.Code, body.Error, resp
}

func TestValidTokenAdmitsWithItsSubjectAndIsStripped(t *testing.T) {
	g := newGuard(t, Config{JWTSecret: secret})
	url, admitted := guarded(t, g, nil)
	tok := sign(t, secret, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})

	if code, _, msg, _ := get(t, url+"/ws?token="+tok+"&x=1", nil); code != http.StatusOK {
		t.Fatalf("token in query: %d %s", code, msg)
	}
	s := <-admitted
	if s.subject != "alice" || s.query != "x=1" {
		t.Fatalf("query token: subject %q, query left %q; want alice and x=1", s.subject, s.query)
	}
	code, _, msg, _ := get(t, url+"/ws", http.Header{"Authorization": {"Bearer " + tok}})
	if code != http.StatusOK {
		t.Fatalf("token in header: %d %s", code, msg)
	}
	if s = <-admitted; s.subject != "alice" || s.auth != "" {
		t.Fatalf("header token: subject %q, Authorization left %q", s.subject, s.auth)
	}
}

func TestBadTokensAreRefusedWithAReason(t *testing.T) {
	g := newGuard(t, Config{JWTSecret: secret})
	url, _ := guarded(t, g, nil)
	hour := time.Now().Add(time.Hour).Unix()
	cases := []struct {
		name, token, reason string
	}{
		{"missing", "", "missing access token"},
		{"expired", sign(t, secret, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "a", "exp": time.Now().Add(-time.Minute).Unix()}), "expired"},
		{"wrong secret", sign(t, "other", jwt.SigningMethodHS256, jwt.MapClaims{"sub": "a", "exp": hour}), "signature is invalid"},
		{"HS512", sign(t, secret, jwt.SigningMethodHS512, jwt.MapClaims{"sub": "a", "exp": hour}), "signature is invalid"},
		{"no exp", sign(t, secret, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "a"}), "no exp"},
		{"no sub", sign(t, secret, jwt.SigningMethodHS256, jwt.MapClaims{"exp": hour}), "no sub"},
		{"not yet valid", sign(t, secret, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "a", "exp": hour, "nbf": time.Now().Add(30 * time.Minute).Unix()}), "not valid yet"},
		{"alg none", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhIiwiZXhwIjo0MTAyNDQ0ODAwfQ.", "signature is invalid"},
		{"garbage", "not-a-jwt", "malformed"},
	}
	for i, c := range cases {
		q := ""
		if c.token != "" {
			q = "?token=" + c.token
		}
		code, errCode, msg, resp := get(t, url+"/ws"+q, nil)
		if code != http.StatusUnauthorized || errCode != "unauthorized" || !strings.Contains(msg, c.reason) {
			t.Errorf("%s: %d %s %q, want 401 unauthorized mentioning %q", c.name, code, errCode, msg, c.reason)
		}
		if resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate header", c.name)
		}
		if got := g.Stats().Unauthorized; got != uint64(i+1) {
			t.Errorf("%s: Unauthorized = %d, want %d", c.name, got, i+1)
		}
	}
}

func TestWithoutASecretUsersAreAnonymous(t *testing.T) {
	g := newGuard(t, Config{})
	url, admitted := guarded(t, g, nil)
	if code, _, msg, _ := get(t, url+"/ws", nil); code != http.StatusOK {
		t.Fatalf("anonymous: %d %s", code, msg)
	}
	if s := <-admitted; s.subject != "" {
		t.Fatalf("anonymous request got subject %q", s.subject)
	}
}

func TestConnectionsPerMinuteRefillOverTheMinute(t *testing.T) {
	clock := newFakeClock()
	g := newGuard(t, Config{ConnectionsPerMinute: 3, Now: clock.Now})
	url, _ := guarded(t, g, nil)
	for i := range 3 {
		if code, _, msg, _ := get(t, url, nil); code != http.StatusOK {
			t.Fatalf("connection %d: %d %s", i+1, code, msg)
		}
	}
	code, errCode, msg, resp := get(t, url, nil)
	if code != http.StatusTooManyRequests || errCode != "rate_limited" || !strings.Contains(msg, "3 a minute") {
		t.Fatalf("4th connection in a minute: %d %s %q, want 429 rate_limited", code, errCode, msg)
	}
	if resp.Header.Get("Retry-After") != "20" {
		t.Errorf("Retry-After %q, want 20", resp.Header.Get("Retry-After"))
	}
	clock.Advance(20 * time.Second) // one connection's worth of the bucket
	if code, _, msg, _ := get(t, url, nil); code != http.StatusOK {
		t.Fatalf("after 20 s: %d %s", code, msg)
	}
	if code, _, _, _ := get(t, url, nil); code != http.StatusTooManyRequests {
		t.Fatalf("bucket should be empty again, got %d", code)
	}
	if s := g.Stats(); s.RateLimited != 2 || s.TrackedIPs != 1 {
		t.Fatalf("stats %+v, want 2 rate limited and 1 tracked IP", s)
	}
}

func TestSessionsPerIPHoldUntilTheSessionEnds(t *testing.T) {
	g := newGuard(t, Config{SessionsPerIP: 2})
	hold := make(chan struct{})
	url, admitted := guarded(t, g, hold)
	results := make(chan int, 2)
	for range 2 {
		go func() {
			resp, err := http.Get(url)
			if err != nil {
				results <- 0
				return
			}
			resp.Body.Close()
			results <- resp.StatusCode
		}()
	}
	<-admitted
	<-admitted // both sessions are open now
	code, errCode, msg, _ := get(t, url, nil)
	if code != http.StatusTooManyRequests || errCode != "too_many_sessions" || !strings.Contains(msg, "at most 2") {
		t.Fatalf("3rd concurrent session: %d %s %q, want 429 too_many_sessions", code, errCode, msg)
	}
	close(hold) // end both sessions
	for range 2 {
		if code := <-results; code != http.StatusOK {
			t.Fatalf("held session answered %d", code)
		}
	}
	if code, _, msg, _ := get(t, url, nil); code != http.StatusOK {
		t.Fatalf("after the sessions ended: %d %s", code, msg)
	}
	if s := g.Stats(); s.TooManySessions != 1 {
		t.Fatalf("TooManySessions = %d, want 1", s.TooManySessions)
	}
}

func TestLimitsApplyToTheClientBehindATrustedProxy(t *testing.T) {
	g := newGuard(t, Config{ConnectionsPerMinute: 1, TrustedProxies: []string{"127.0.0.0/8"}})
	url, admitted := guarded(t, g, nil)
	for _, client := range []string{"203.0.113.7", "203.0.113.8"} {
		h := http.Header{"X-Forwarded-For": {"198.51.100.1, " + client}}
		if code, _, msg, _ := get(t, url, h); code != http.StatusOK {
			t.Fatalf("first connection of %s: %d %s", client, code, msg)
		}
		if s := <-admitted; s.remote != client+":0" {
			t.Fatalf("handler saw RemoteAddr %q, want %s:0", s.remote, client)
		}
		if code, _, _, _ := get(t, url, h); code != http.StatusTooManyRequests {
			t.Fatalf("second connection of %s in a minute: %d, want 429", client, code)
		}
	}
}
