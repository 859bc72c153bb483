package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/livetest"
	"github.com/tandemchat/tandem/moderation"
)

// moderationServer starts a server that trusts 127.0.0.1 as a reverse proxy,
// so each test client can claim its own address with X-Forwarded-For, and
// keeps its store in dir.
func moderationServer(t *testing.T, dir string) *livetest.Server {
	t.Helper()
	return livetest.Start(t, func(c *config.Config) {
		c.HTTP.TrustedProxies = []string{"127.0.0.1"}
		c.Moderation.DataDir = dir
		c.Admin.Token = "moderator-token-1234"
		c.Signaling.InterestWait = 0
		c.Moderation.LowTrustPercent = 0 // the reported user must keep meeting new reporters
	})
}

// dialFrom connects a client whose address is ip.
func dialFrom(t *testing.T, srv *livetest.Server, ip string) *livetest.Client {
	t.Helper()
	c, resp, err := livetest.DialFrom(t, srv.WSURL, ip)
	if err != nil {
		t.Fatalf("dial as %s: %v (%v)", ip, err, resp)
	}
	return c
}

// reportFrom pairs a new client from ip with target and reports it; the
// reporter leaves the queue afterwards so the next pairing is predictable.
func reportFrom(t *testing.T, srv *livetest.Server, ip string, target *livetest.Client) {
	t.Helper()
	report(t, dialFrom(t, srv, ip), target)
}

// pairAndReport pairs reporter r with target (target waits first), has r
// report it, and returns the id of r's report_received.
func pairAndReport(t *testing.T, r, target *livetest.Client) string {
	t.Helper()
	target.Send("find_partner", nil)
	target.Expect("waiting_for_partner")
	r.Send("find_partner", nil)
	r.Expect("partner_found")
	target.Expect("partner_found")
	r.Send("report_partner", map[string]string{"reason": "nudity"})
	var got struct{ ReportID string }
	r.ExpectUntil("report_received").Decode(t, &got)
	return got.ReportID
}

// report pairs reporter r with target and reports it, then r leaves.
func report(t *testing.T, r, target *livetest.Client) {
	t.Helper()
	pairAndReport(t, r, target)
	var left struct{ Reason string }
	target.Expect("partner_left").Decode(t, &left)
	if left.Reason != "next" {
		t.Fatalf("reported user got partner_left %q, want next", left.Reason)
	}
	r.Send("leave", nil)
	// leave has no reply: a typing without a partner does (not_in_room), and
	// the server handles a session's messages in order, so r has left the
	// queue once it arrives and cannot take the target's next partner.
	r.Send("typing", map[string]bool{"active": false})
	r.ExpectUntil("error")
	r.Close()
}

func TestThreeReportersFromThreeAddressesBanAFourthAlsoAfterARestart(t *testing.T) {
	dir := t.TempDir()
	srv := moderationServer(t, dir)
	x := dialFrom(t, srv, "198.51.100.9")
	reportFrom(t, srv, "198.51.100.1", x)
	reportFrom(t, srv, "198.51.100.2", x)
	x.Send("find_partner", nil)
	x.Expect("waiting_for_partner") // two distinct reporters: still welcome
	x.Send("leave", nil)
	reportFrom(t, srv, "198.51.100.3", x)

	// The connected session of the newly banned address ends at once.
	var e livetest.BanError
	x.ExpectUntil("error").Decode(t, &e)
	if e.Code != "banned" || e.Reason != "nudity" {
		t.Fatalf("banned session got %+v", e)
	}
	if code := x.ExpectClosed(); code != websocket.ClosePolicyViolation {
		t.Fatalf("banned session closed with %d, want 1008", code)
	}
	ban := livetest.ExpectBannedAtDial(t, srv.WSURL, "198.51.100.9")
	if until, err := time.Parse(time.RFC3339, ban.Until); err != nil || time.Until(until) < 23*time.Hour {
		t.Fatalf("ban until %q (%v), want about 24h", ban.Until, err)
	}
	dialFrom(t, srv, "198.51.100.8").Close() // a neighbour is welcome

	srv.Close()
	srv = moderationServer(t, dir)
	livetest.ExpectBannedAtDial(t, srv.WSURL, "198.51.100.9")
	_, body := srv.Do(t, "GET", "/metrics", "")
	if !strings.Contains(body, `tandem_ws_refused_total{reason="banned"} 1`) {
		t.Errorf("metrics do not count the refusal:\n%s", body)
	}
}

// TestAReportedPairIsNeverMatchedAgainInALaterVisit reports x, then lets x
// come back in a new visit (a new WebSocket from its address) and the
// reporter's address search again: the two wait side by side, never paired,
// while a stranger from elsewhere meets either. (Reports from one address
// count once toward a ban: moderation's unit tests; here that address can
// no longer meet x to report it again.)
func TestAReportedPairIsNeverMatchedAgainInALaterVisit(t *testing.T) {
	srv := moderationServer(t, t.TempDir())
	x := dialFrom(t, srv, "203.0.113.9")
	reportFrom(t, srv, "203.0.113.1", x)
	x.Close()

	x = dialFrom(t, srv, "203.0.113.9")  // x's next visit
	r := dialFrom(t, srv, "203.0.113.1") // the reporter's next visit
	x.Send("find_partner", nil)
	x.Expect("waiting_for_partner")
	r.Send("find_partner", nil)
	r.Expect("waiting_for_partner") // x waits, alone with r: still not paired
	stranger := dialFrom(t, srv, "192.0.2.50")
	stranger.Send("find_partner", nil)
	stranger.Expect("partner_found")
	x.Expect("partner_found") // the one who waited longest
	if n := srv.Hub().Stats().WaitingUsers; n != 1 {
		t.Fatalf("%d waiting, want 1 (the reporter)", n)
	}
	got, err := srv.Moderation().Reports(moderation.ReportFilter{})
	if err != nil || len(got) != 1 {
		t.Fatalf("%d reports stored (%v), want 1", len(got), err)
	}
}

func TestPersistentOffendersMeetEachOtherInTheLowTrustPool(t *testing.T) {
	srv := livetest.Start(t, func(c *config.Config) {
		c.HTTP.TrustedProxies = []string{"127.0.0.1"}
		c.Signaling.InterestWait = 0
		c.Moderation.ReportThreshold = 0 // no bans: only the pool
		c.Moderation.LowTrustPercent = 50
		c.Moderation.LowTrustMinReports = 1
	})
	x := dialFrom(t, srv, "192.0.2.9")
	reportFrom(t, srv, "192.0.2.1", x)
	y := dialFrom(t, srv, "192.0.2.8")
	reportFrom(t, srv, "192.0.2.2", y)

	newcomer := dialFrom(t, srv, "192.0.2.5")
	newcomer.Send("find_partner", nil)
	newcomer.Expect("waiting_for_partner")
	x.Send("find_partner", nil)
	x.Expect("waiting_for_partner") // reported in every call: not paired with the newcomer
	y.Send("find_partner", nil)
	y.Expect("partner_found") // the two offenders meet each other
	x.Expect("partner_found")
	other := dialFrom(t, srv, "192.0.2.6")
	other.Send("find_partner", nil)
	other.Expect("partner_found")
	newcomer.Expect("partner_found")
}

func TestStaticBansFromTheConfiguration(t *testing.T) {
	srv := livetest.Start(t, func(c *config.Config) {
		c.HTTP.TrustedProxies = []string{"127.0.0.1"}
		c.Moderation.Bans = []string{"203.0.113.0/28", "2001:db8:bad::/48"}
	})
	livetest.ExpectBannedAtDial(t, srv.WSURL, "203.0.113.14")
	livetest.ExpectBannedAtDial(t, srv.WSURL, "2001:db8:bad:1::77")
	dialFrom(t, srv, "203.0.113.16").Close()
	if bans := srv.Moderation().Bans(); len(bans) != 2 || bans[0].By != "config" {
		t.Fatalf("bans %+v", bans)
	}
}

func TestWithAccessTokensReportsBanTheIdentityWhereverItConnects(t *testing.T) {
	const secret = "moderation-test-jwt-secret"
	srv := livetest.Start(t, func(c *config.Config) {
		c.HTTP.TrustedProxies = []string{"127.0.0.1"}
		c.Auth.JWTSecret = secret
		c.Signaling.InterestWait = 0
		c.Moderation.LowTrustPercent = 0
	})
	dial := func(ip, sub string) (*livetest.Client, error) {
		c, _, err := livetest.Dial(t, srv.WSURL, http.Header{"X-Forwarded-For": {ip}, "Authorization": {"Bearer " + mustToken(t, secret, sub)}})
		return c, err
	}
	must := func(c *livetest.Client, err error) *livetest.Client {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	mallory := must(dial("198.51.100.50", "mallory"))
	for i, ip := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
		report(t, must(dial(ip, fmt.Sprintf("user%d", i))), mallory)
	}
	var e livetest.BanError
	mallory.ExpectUntil("error").Decode(t, &e)
	if e.Code != "banned" {
		t.Fatalf("mallory got %+v", e)
	}
	if bans := srv.Moderation().Bans(); len(bans) != 1 || bans[0].Target != "identity:mallory" {
		t.Fatalf("bans %+v, want the identity", bans)
	}
	// Another identity on mallory's address is welcome; mallory from elsewhere is not.
	must(dial("198.51.100.50", "neighbour")).Close()
	conn, _, err := websocket.DefaultDialer.Dial(srv.WSURL, http.Header{"X-Forwarded-For": {"203.0.113.77"},
		"Authorization": {"Bearer " + mustToken(t, secret, "mallory")}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(livetest.WaitFor))
	var msg struct {
		Type string
		Data livetest.BanError
	}
	if err := conn.ReadJSON(&msg); err != nil || msg.Data.Code != "banned" {
		t.Fatalf("mallory from a new address: %+v %v", msg, err)
	}
}

// mustToken is an access token for sub, signed with secret, valid for an hour.
func mustToken(t *testing.T, secret, sub string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
