package web_test

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"
	"github.com/tandemchat/tandem/config"
)

// These tests run the page against a server that guards /ws (docs/api.md,
// "GET /ws: refusals before the upgrade"): access tokens from an embedding
// site's link, and per-IP limits.

// testJWTSecret signs the tokens the test server accepts.
const testJWTSecret = "a shared secret between tandem and the embedding site"

// Banners the page shows when /ws refuses it.
const (
	bannerBadLink = "This link is invalid or has expired. Go back to the site that sent you here for a new one."
	bannerNoLink  = "This tandem server admits visitors only through a link from its own website. Open it from there."
	bannerLimited = "Too many connections from your network right now. Trying again in "
)

// accessToken signs an HS256 token for subject that expires at exp, as an
// embedding site would (docs/api.md).
func accessToken(t *testing.T, secret, subject string, exp time.Time) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": subject,
		"exp": exp.Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatalf("sign token for %s: %v", subject, err)
	}
	return tok
}

// withToken is the page's address as an embedding site links to it.
func withToken(base, token string) string {
	return base + "/?token=" + url.QueryEscape(token)
}

// requireTokens makes the test server require access tokens.
func requireTokens(c *config.Config) { c.Auth.JWTSecret = testJWTSecret }

func TestAccessTokenGoesWithEverySocketAndLeavesTheAddressBar(t *testing.T) {
	requireBrowser(t)
	base := startServer(t, requireTokens).URL()
	alice := newBrowser(t, "alice", browserOptions{camera: red})
	bob := newBrowser(t, "bob", browserOptions{camera: green})
	aliceToken := accessToken(t, testJWTSecret, "alice@example.org", time.Now().Add(time.Hour))
	alice.open(withToken(base, aliceToken) + "&lang=en")
	bob.open(withToken(base, accessToken(t, testJWTSecret, "bob@example.org", time.Now().Add(time.Hour))))

	// The token leaves the address bar (and the history entry) at once;
	// the rest of the address stays.
	if got := eval[string](alice, `location.href`); got != base+"/?lang=en" {
		t.Errorf("alice's address after load = %q, want %q", got, base+"/?lang=en")
	}
	if got := eval[string](bob, `location.href`); got != base+"/" {
		t.Errorf("bob's address after load = %q, want %q", got, base+"/")
	}

	alice.click("Start")
	alice.waitStatus(statusSearching)
	bob.click("Start")
	alice.waitStatus(statusTalking)
	bob.waitStatus(statusTalking)
	alice.waitVideoColor("#remote-video", green)
	bob.waitVideoColor("#remote-video", red)

	// A reconnect carries the token again and is admitted.
	dropSocket(alice, bob)
	urls := eval[[]string](alice, `window.__tandemProbe.sockets.map((s) => s.url)`)
	if len(urls) != 2 {
		t.Fatalf("alice opened %d WebSockets, want 2 (one reconnect): %q", len(urls), urls)
	}
	for i, u := range urls {
		parsed, err := url.Parse(u)
		if err != nil || parsed.Path != "/ws" || parsed.Query().Get("token") != aliceToken {
			t.Errorf("alice's WebSocket %d went to %q, want /ws with her token", i+1, u)
		}
	}
	if n := alice.probe("wsFetches"); n != 0 {
		t.Errorf("alice asked /ws why it refused %d times, but it never refused", n)
	}
}

func TestRefusedTokenIsExplainedAndNotRetried(t *testing.T) {
	requireBrowser(t)
	base := startServer(t, requireTokens).URL()
	visitor := newBrowser(t, "visitor", browserOptions{camera: blue})
	cases := []struct {
		name, address, banner string
	}{
		{"expired", withToken(base, accessToken(t, testJWTSecret, "late@example.org", time.Now().Add(-time.Hour))), bannerBadLink},
		{"signed with another secret", withToken(base, accessToken(t, "not the secret", "forger@example.org", time.Now().Add(time.Hour))), bannerBadLink},
		{"missing", base + "/", bannerNoLink},
	}
	for i, c := range cases {
		visitor.open(c.address)
		if got := eval[string](visitor, `location.href`); got != base+"/" {
			t.Errorf("%s token: address after load = %q, want the token removed", c.name, got)
		}
		visitor.click("Start")
		visitor.waitRefusal(c.banner)
		if i == 0 {
			// Start tries once more, and is refused the same way.
			visitor.click("Start")
			visitor.WaitFor("a second attempt", `window.__tandemProbe.sockets.length === 2`)
			visitor.waitRefusal(c.banner)
		}
		wantSockets := map[bool]int{true: 2, false: 1}[i == 0]
		visitor.checkNoRetry(c.name+" token", wantSockets)
	}
}

func TestPerIPLimitIsExplainedAndRetriedLater(t *testing.T) {
	requireBrowser(t)
	base := startServer(t, func(c *config.Config) { c.Limits.SessionsPerIP = 1 }).URL()
	alice := newBrowser(t, "alice", browserOptions{camera: red})
	bob := newBrowser(t, "bob", browserOptions{camera: green})
	alice.open(base)
	alice.click("Start")
	alice.waitStatus(statusSearching)

	// Alice holds the one session this address may have: Bob is refused
	// with 429 too_many_sessions, told so, and waits at least Retry-After.
	bob.open(base)
	bob.click("Start")
	bob.WaitFor("the limit banner", fmt.Sprintf(
		`document.querySelector('#banner').checkVisibility() && document.querySelector('#banner').textContent.startsWith(%q)`, bannerLimited))
	banner := eval[string](bob, `document.querySelector('#banner').textContent`)
	m := regexp.MustCompile(`Trying again in (\d+) s\.$`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("bob's banner = %q, want when the page tries again", banner)
	}
	if wait, _ := strconv.Atoi(m[1]); wait < 10 {
		t.Errorf("bob retries in %d s, want at least the server's Retry-After of 10 s", wait)
	}
	if got := eval[string](bob, `document.querySelector('#status').textContent`); got != statusReconnect {
		t.Errorf("bob's status = %q, want %q", got, statusReconnect)
	}

	// Alice leaves; Bob's next attempt gets her slot and queues by itself.
	alice.Do("leave the page", chromedp.Navigate("about:blank"))
	bob.waitStatus(statusSearching)
	if !eval[bool](bob, `document.querySelector('#banner').hidden`) {
		t.Errorf("the limit banner stayed after bob got in\n%s", bob.Report())
	}
	if n := bob.probe("wsFetches"); n < 1 {
		t.Errorf("bob never asked /ws why it refused")
	}
}

// waitRefusal waits until the page is back on the landing view with banner.
func (b *browser) waitRefusal(banner string) {
	b.t.Helper()
	b.WaitFor("the refusal explained", fmt.Sprintf(`document.body.classList.contains('view-landing') &&
	  document.querySelector('#banner').checkVisibility() && document.querySelector('#banner').textContent === %q`, banner))
}

// refusalWatchMs is how long checkNoRetry watches a refused page for another
// attempt: five times the longest first reconnect delay (0.6 s), so a page
// that retried on its own would be caught. It is an observation window, not
// a wait for something to happen.
const refusalWatchMs = 3000

// checkNoRetry checks that a refused page stays refused: no new WebSocket
// over refusalWatchMs, one /ws fetch per socket, never "Reconnecting", and
// Start available.
func (b *browser) checkNoRetry(what string, sockets int) {
	b.t.Helper()
	got := eval[map[string]any](b, fmt.Sprintf(`new Promise((resolve) => setTimeout(() => {
	  const p = window.__tandemProbe;
	  resolve({ sockets: p.sockets.length, fetches: p.wsFetches, reconnecting: p.statuses.includes(%q),
	    start: document.querySelector('#start').checkVisibility() && !document.querySelector('#start').disabled });
	}, %d))`, statusReconnect, refusalWatchMs))
	want := map[string]any{"sockets": float64(sockets), "fetches": float64(sockets), "reconnecting": false, "start": true}
	for k, v := range want {
		if got[k] != v {
			b.t.Errorf("%s: %s = %v, want %v\n%s", what, k, got[k], v, b.Report())
		}
	}
}
