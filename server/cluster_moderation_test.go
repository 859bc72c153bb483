package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/livetest"
	"github.com/tandemchat/tandem/internal/redistest"
	"github.com/tandemchat/tandem/moderation"
)

// adminToken is the admin token of the moderation instances.
const adminToken = "moderator-token-1234"

// moderationInstance starts an instance in cluster mode on r that trusts
// 127.0.0.1 as a reverse proxy (each test client claims its own address
// with X-Forwarded-For), as moderationServer does for a single instance.
func moderationInstance(t *testing.T, r *redistest.Server) *livetest.Server {
	t.Helper()
	return startInstanceWith(t, r, func(c *config.Config) {
		c.HTTP.TrustedProxies = []string{"127.0.0.1"}
		c.Admin.Token = adminToken
		c.Signaling.InterestWait = 0
		c.Moderation.LowTrustPercent = 0 // the reported user must keep meeting new reporters
	})
}

// adminDo sends an admin API request with a JSON body and returns the status
// and body.
func adminDo(t *testing.T, srv *livetest.Server, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// expectBannedSession checks that c gets `error` banned and a close 1008.
func expectBannedSession(t *testing.T, c *livetest.Client) {
	t.Helper()
	var e livetest.BanError
	c.ExpectUntil("error").Decode(t, &e)
	if e.Code != "banned" {
		t.Fatalf("banned session got %+v", e)
	}
	if code := c.ExpectClosed(); code != websocket.ClosePolicyViolation {
		t.Fatalf("banned session closed with %d, want 1008", code)
	}
}

// waitBanned waits until srv keeps a client of ip out (want true) or lets
// it in (want false).
func waitBanned(t *testing.T, srv *livetest.Server, ip string, want bool) {
	t.Helper()
	deadline := time.Now().Add(livetest.WaitFor)
	for {
		if _, banned := srv.Moderation().Check(ip, ""); banned == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s banned %v after %v, want %v", ip, !want, livetest.WaitFor, want)
		}
		time.Sleep(10 * time.Millisecond) // polling another goroutine's view
	}
}

// TestClusterAnAdminBanAndUnbanReachEveryInstance bans an address through
// the admin API of one instance: the session it has on the other instance
// ends as a local ban ends it, a new WebSocket there is refused the same way,
// and the unban made on the other instance lets it in everywhere.
func TestClusterAnAdminBanAndUnbanReachEveryInstance(t *testing.T) {
	r := redistest.Start(t)
	a, b := moderationInstance(t, r), moderationInstance(t, r)
	x := dialFrom(t, b, "192.0.2.7")
	x.Send("find_partner", nil)
	x.Expect("waiting_for_partner")

	status, body := adminDo(t, a, "POST", "/api/admin/bans", `{"target":"192.0.2.7","reason":"spam","duration":"1h"}`)
	if status != http.StatusCreated {
		t.Fatalf("ban: %d %s", status, body)
	}
	expectBannedSession(t, x)
	if queueLen(t, r) != 0 {
		t.Fatal("the banned session is still in the shared queue")
	}
	ban := livetest.ExpectBannedAtDial(t, b.WSURL, "192.0.2.7")
	if ban.Reason != "spam" {
		t.Fatalf("refused with %+v", ban)
	}
	dialFrom(t, b, "192.0.2.8").Close() // a neighbour is welcome

	if status, body := adminDo(t, b, "DELETE", "/api/admin/bans?target=192.0.2.7", ""); status != http.StatusOK {
		t.Fatalf("unban on the other instance: %d %s", status, body)
	}
	waitBanned(t, a, "192.0.2.7", false)
	dialFrom(t, a, "192.0.2.7").Close() // welcomed (dialFrom reads the welcome)
	dialFrom(t, b, "192.0.2.7").Close()

	var audit struct{ Entries []moderation.AuditEntry }
	_, body = adminDo(t, a, "GET", "/api/admin/audit", "")
	if err := json.Unmarshal([]byte(body), &audit); err != nil || len(audit.Entries) != 2 || audit.Entries[0].Action != "unban" {
		t.Fatalf("the audit log of the first instance: %s (%v)", body, err)
	}
}

// TestClusterReportsOfAllInstancesCountTowardOneBan has x, on one instance,
// reported by three clients of distinct addresses, two on the other instance
// and one on x's: the reports are listed on either instance, and the third
// bans x, ending its session.
func TestClusterReportsOfAllInstancesCountTowardOneBan(t *testing.T) {
	r := redistest.Start(t)
	a, b := moderationInstance(t, r), moderationInstance(t, r)
	x := dialFrom(t, b, "198.51.100.9")
	reportFrom(t, a, "198.51.100.1", x)
	reportFrom(t, b, "198.51.100.2", x)

	var list struct{ Reports []moderation.Report }
	_, body := adminDo(t, b, "GET", "/api/admin/reports", "")
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Reports) != 2 {
		t.Fatalf("reports listed on the second instance: %s (%v)", body, err)
	}
	if got := list.Reports[1]; got.Reporter.IP != "198.51.100.1" || got.Reported.IP != "198.51.100.9" {
		t.Fatalf("the report filed on the first instance: %+v", got)
	}
	x.Send("find_partner", nil)
	x.Expect("waiting_for_partner") // two distinct reporters: still welcome
	x.Send("leave", nil)

	// The third report: the ban (told over pub/sub) may reach x before
	// partner_left (told over x's instance's stream), so x waits for it alone.
	pairAndReport(t, dialFrom(t, a, "198.51.100.3"), x)
	expectBannedSession(t, x)
	livetest.ExpectBannedAtDial(t, b.WSURL, "198.51.100.9")
	livetest.ExpectBannedAtDial(t, a.WSURL, "198.51.100.9")
}

// TestClusterAReportedPairIsNeverMatchedAgainOnAnyInstance: y, on one
// instance, reports x, on the other; in their next visits (new WebSockets,
// x on the first instance now, y on the second) the two wait side by side in
// the shared queue, never paired, while strangers meet either of them.
func TestClusterAReportedPairIsNeverMatchedAgainOnAnyInstance(t *testing.T) {
	r := redistest.Start(t)
	a, b := moderationInstance(t, r), moderationInstance(t, r)
	x := dialFrom(t, b, "203.0.113.9")
	reportFrom(t, a, "203.0.113.1", x)
	x.Close()

	x = dialFrom(t, a, "203.0.113.9")  // x's next visit, on the other instance
	y := dialFrom(t, b, "203.0.113.1") // the reporter's next visit
	x.Send("find_partner", nil)
	x.Expect("waiting_for_partner")
	y.Send("find_partner", nil)
	y.Expect("waiting_for_partner") // alone with x: still not paired
	if n := queueLen(t, r); n != 2 {
		t.Fatalf("%d waiting in the shared queue, want x and y", n)
	}
	stranger := dialFrom(t, b, "192.0.2.50")
	stranger.Send("find_partner", nil)
	sameRoom(t, stranger, x) // the one who waited longest, across instances
	other := dialFrom(t, a, "192.0.2.51")
	other.Send("find_partner", nil)
	sameRoom(t, other, y)
}

// TestClusterReportsMadeWhileRedisIsDownAreStoredWhenItAnswers: with Redis
// stopped, three clients of distinct addresses report x on one instance;
// each is told its report was taken (a provisional id), and once Redis
// answers the reports are stored (listed on the other instance) and the
// third bans x as it would have.
func TestClusterReportsMadeWhileRedisIsDownAreStoredWhenItAnswers(t *testing.T) {
	r := redistest.Start(t)
	a, b := moderationInstance(t, r), moderationInstance(t, r)
	r.Stop()
	waitCluster(t, a, "local_only")
	x := dialFrom(t, a, "198.51.100.19")

	first := dialFrom(t, a, "198.51.100.11")
	if id := pairAndReport(t, first, x); !strings.HasPrefix(id, moderation.HeldPrefix) {
		t.Fatalf("report while Redis is down: id %q, want a held one", id)
	}
	x.Expect("partner_left")
	first.Close()
	reportFrom(t, a, "198.51.100.12", x)
	reportFrom(t, a, "198.51.100.13", x)
	if n := a.Moderation().HeldReports(); n != 3 {
		t.Fatalf("%d reports held, want 3", n)
	}

	r.Restart(t)
	expectBannedSession(t, x)
	waitBanned(t, b, "198.51.100.19", true) // b reads it when it subscribes again
	livetest.ExpectBannedAtDial(t, b.WSURL, "198.51.100.19")
	var list struct{ Reports []moderation.Report }
	_, body := adminDo(t, b, "GET", "/api/admin/reports", "")
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Reports) != 3 {
		t.Fatalf("reports listed on the other instance: %s (%v)", body, err)
	}
	if a.Moderation().HeldReports() != 0 {
		t.Fatal("reports still held once stored")
	}
}
