package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/livetest"
)

// moderated starts a server with the admin token named "alice" that trusts
// 127.0.0.1 as a proxy, so clients can claim addresses with X-Forwarded-For.
func moderated(t *testing.T) *livetest.Server {
	return livetest.Start(t, func(c *config.Config) {
		withAdmin(c)
		c.Admin.TokenName = "alice"
		c.HTTP.TrustedProxies = []string{"127.0.0.1"}
		c.Signaling.InterestWait = 0
	})
}

// call sends method path with a JSON body (nil for none) and the admin
// token, and decodes the answer into out (when not nil).
func call(t *testing.T, srv *livetest.Server, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, srv.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

func dialAs(t *testing.T, srv *livetest.Server, ip string) (*livetest.Client, error) {
	c, _, err := livetest.DialFrom(t, srv.WSURL, ip)
	return c, err
}

type reportJSON struct {
	ID       string `json:"id"`
	Reason   string `json:"reason"`
	Comment  string `json:"comment"`
	Status   string `json:"status"`
	Reported struct {
		UserID string `json:"userId"`
		IP     string `json:"ip"`
	} `json:"reported"`
	Chat []struct {
		Text string `json:"text"`
	} `json:"chat"`
}

func TestAdminReviewsAReportBansAndUnbans(t *testing.T) {
	srv := moderated(t)
	a, err := dialAs(t, srv, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := dialAs(t, srv, "192.0.2.2")
	if err != nil {
		t.Fatal(err)
	}
	a.Send("find_partner", nil)
	a.Expect("waiting_for_partner")
	b.Send("find_partner", nil)
	a.Expect("partner_found")
	b.Expect("partner_found")
	b.Send("chat_message", map[string]string{"text": "buy followers at my shop"})
	a.Expect("chat_message")
	a.Send("report_partner", map[string]string{"reason": "spam", "comment": "advertising"})
	a.ExpectUntil("report_received")

	var list struct {
		Reports []reportJSON `json:"reports"`
		Next    string       `json:"next"`
	}
	if code := call(t, srv, "GET", "/api/admin/reports?ip=192.0.2.2&reason=spam", nil, &list); code != 200 || len(list.Reports) != 1 {
		t.Fatalf("list: %d %+v", code, list)
	}
	r := list.Reports[0]
	if r.Comment != "advertising" || r.Reported.UserID != b.UserID || r.Reported.IP != "192.0.2.2" ||
		len(r.Chat) != 1 || r.Chat[0].Text != "buy followers at my shop" || r.Status != "open" {
		t.Fatalf("report %+v", r)
	}
	if call(t, srv, "GET", "/api/admin/reports?reason=nudity", nil, &list); len(list.Reports) != 0 {
		t.Fatalf("reason filter: %+v", list.Reports)
	}
	var one reportJSON
	if code := call(t, srv, "POST", "/api/admin/reports/"+r.ID+"/review", map[string]string{"status": "reviewed", "note": "confirmed"}, &one); code != 200 || one.Status != "reviewed" {
		t.Fatalf("review: %d %+v", code, one)
	}
	if code := call(t, srv, "GET", "/api/admin/reports/"+r.ID, nil, &one); code != 200 || one.Status != "reviewed" {
		t.Fatalf("get: %d %+v", code, one)
	}

	// Banning b's address ends b's session at once and keeps it out.
	if code := call(t, srv, "POST", "/api/admin/bans", map[string]string{"target": "192.0.2.2", "reason": "spam", "duration": "2h"}, nil); code != 201 {
		t.Fatalf("ban: %d", code)
	}
	var e struct{ Code, Until, Reason string }
	b.ExpectUntil("error").Decode(t, &e)
	if e.Code != "banned" || e.Reason != "spam" {
		t.Fatalf("banned session got %+v", e)
	}
	if code := b.ExpectClosed(); code != websocket.ClosePolicyViolation {
		t.Fatalf("close %d", code)
	}
	var bans struct {
		Bans []struct{ Target, By string } `json:"bans"`
	}
	if call(t, srv, "GET", "/api/admin/bans", nil, &bans); len(bans.Bans) != 1 || bans.Bans[0].Target != "192.0.2.2" || bans.Bans[0].By != "alice" {
		t.Fatalf("bans %+v", bans)
	}
	livetest.ExpectBannedAtDial(t, srv.WSURL, "192.0.2.2")
	if code := call(t, srv, "DELETE", "/api/admin/bans?target="+url.QueryEscape("192.0.2.2"), nil, nil); code != 200 {
		t.Fatalf("unban: %d", code)
	}
	if _, err := dialAs(t, srv, "192.0.2.2"); err != nil {
		t.Fatalf("after unban: %v", err)
	}

	var audit struct {
		Entries []struct{ Actor, Action, Target string } `json:"entries"`
	}
	call(t, srv, "GET", "/api/admin/audit", nil, &audit)
	want := []string{"unban 192.0.2.2", "ban 192.0.2.2", "report_reviewed " + r.ID}
	if len(audit.Entries) != len(want) {
		t.Fatalf("audit %+v", audit.Entries)
	}
	for i, w := range want {
		if got := audit.Entries[i].Action + " " + audit.Entries[i].Target; got != w || audit.Entries[i].Actor != "alice" {
			t.Errorf("audit entry %d: %+v, want %s by alice", i, audit.Entries[i], w)
		}
	}
	_, metrics := srv.Do(t, "GET", "/metrics", "")
	for _, m := range []string{`tandem_reports_total{reason="spam"} 1`, `tandem_bans_active 0`, `tandem_ws_refused_total{reason="banned"} 1`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

func TestModerationEndpointsRefuseBadRequests(t *testing.T) {
	srv := moderated(t)
	for _, tc := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"GET", "/api/admin/reports/nope", nil, 404},
		{"GET", "/api/admin/reports?since=yesterday", nil, 400},
		{"GET", "/api/admin/reports?limit=0", nil, 400},
		{"GET", "/api/admin/reports?reason=boring", nil, 400},
		{"POST", "/api/admin/reports/nope/review", map[string]string{"status": "reviewed"}, 404},
		{"POST", "/api/admin/bans", map[string]string{"target": "not-an-ip", "duration": "1h"}, 400},
		{"POST", "/api/admin/bans", map[string]string{"target": "10.0.0.0/8", "duration": "forever"}, 400},
		{"POST", "/api/admin/bans", map[string]any{"target": "10.0.0.1", "duration": "1h", "extra": 1}, 400},
		{"DELETE", "/api/admin/bans?target=10.9.9.9", nil, 404},
		{"GET", "/api/admin/audit?limit=9999", nil, 400},
	} {
		if code := call(t, srv, tc.method, tc.path, tc.body, nil); code != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, code, tc.want)
		}
	}
	for _, p := range []string{"/api/admin/reports", "/api/admin/bans", "/api/admin/audit"} {
		if code, _ := srv.Do(t, "GET", p, ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d", p, code)
		}
		if code, _ := srv.Do(t, "GET", p, "wrong"); code != http.StatusForbidden {
			t.Errorf("GET %s with a wrong token: %d", p, code)
		}
	}
}

func TestCIDRBan(t *testing.T) {
	srv := moderated(t)
	call(t, srv, "POST", "/api/admin/bans", map[string]string{"target": "198.18.0.0/15", "reason": "abuse", "duration": "1h"}, nil)
	livetest.ExpectBannedAtDial(t, srv.WSURL, "198.19.200.1")
	if _, err := dialAs(t, srv, "198.20.0.1"); err != nil {
		t.Fatalf("an address outside the CIDR: %v", err)
	}
}
