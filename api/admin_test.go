package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"go.uber.org/goleak"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/livetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const adminToken = "test-admin-token"

func withAdmin(c *config.Config) { c.Admin.Token = adminToken }

// pair connects two clients and pairs them; it returns them and the room id.
func pair(t *testing.T, srv *livetest.Server) (a, b *livetest.Client, roomID string) {
	t.Helper()
	a, b = livetest.MustDial(t, srv.WSURL), livetest.MustDial(t, srv.WSURL)
	a.Send("find_partner", nil)
	a.Expect("waiting_for_partner")
	b.Send("find_partner", nil)
	var found struct {
		RoomID string `json:"roomId"`
	}
	a.ExpectUntil("partner_found").Decode(t, &found)
	b.ExpectUntil("partner_found")
	return a, b, found.RoomID
}

func reason(t *testing.T, m livetest.Message) string {
	var d struct {
		Reason string `json:"reason"`
	}
	m.Decode(t, &d)
	return d.Reason
}

func TestAdminOperationsRequireTheToken(t *testing.T) {
	srv := livetest.Start(t, withAdmin)
	paths := []string{"/api/admin/rooms/x/end", "/api/admin/users/x/disconnect", "/api/admin/drain"}
	for _, p := range paths {
		if code, body := srv.Do(t, "POST", p, ""); code != http.StatusUnauthorized {
			t.Errorf("POST %s without a token: %d %s, want 401", p, code, body)
		}
		if code, body := srv.Do(t, "POST", p, "wrong"); code != http.StatusForbidden {
			t.Errorf("POST %s with a wrong token: %d %s, want 403", p, code, body)
		}
	}
	// With the right token: unknown ids are 404, drain is 200.
	for p, want := range map[string]int{paths[0]: 404, paths[1]: 404, paths[2]: 200} {
		if code, body := srv.Do(t, "POST", p, adminToken); code != want {
			t.Errorf("POST %s with the token: %d %s, want %d", p, code, body, want)
		}
	}
}

func TestAdminIsDisabledWithoutAConfiguredToken(t *testing.T) {
	srv := livetest.Start(t, nil)
	code, body := srv.Do(t, "POST", "/api/admin/drain", "anything")
	if code != http.StatusForbidden {
		t.Fatalf("drain with admin disabled: %d %s, want 403", code, body)
	}
	if code, _ := srv.Do(t, "GET", "/readyz", ""); code != http.StatusOK {
		t.Fatalf("/readyz after a refused drain: %d, want 200", code)
	}
}

func TestAdminEndRoomTellsBothUsersEnded(t *testing.T) {
	srv := livetest.Start(t, withAdmin)
	a, b, room := pair(t, srv)
	if code, body := srv.Do(t, "GET", "/api/rooms/"+room, ""); code != http.StatusOK {
		t.Fatalf("room before ending: %d %s", code, body)
	}
	code, body := srv.Do(t, "POST", "/api/admin/rooms/"+room+"/end", adminToken)
	if code != http.StatusOK {
		t.Fatalf("end room: %d %s", code, body)
	}
	for name, c := range map[string]*livetest.Client{"a": a, "b": b} {
		if r := reason(t, c.Expect("partner_left")); r != "ended" {
			t.Errorf("user %s: partner_left reason %q, want ended", name, r)
		}
	}
	if code, _ := srv.Do(t, "GET", "/api/rooms/"+room, ""); code != http.StatusNotFound {
		t.Fatalf("room after ending: %d, want 404", code)
	}
	if code, _ := srv.Do(t, "POST", "/api/admin/rooms/"+room+"/end", adminToken); code != http.StatusNotFound {
		t.Fatalf("ending an ended room: %d, want 404", code)
	}
	// Both users are idle and connected: they can look for someone again.
	a.Send("find_partner", nil)
	a.Expect("waiting_for_partner")
}

func TestAdminDisconnectClosesTheUserAndTellsThePartner(t *testing.T) {
	srv := livetest.Start(t, withAdmin)
	a, b, _ := pair(t, srv)
	code, body := srv.Do(t, "POST", "/api/admin/users/"+a.UserID+"/disconnect", adminToken)
	if code != http.StatusOK {
		t.Fatalf("disconnect: %d %s", code, body)
	}
	if status := a.ExpectClosed(); status != 1008 {
		t.Errorf("disconnected user's close status %d, want 1008 (policy violation)", status)
	}
	if r := reason(t, b.Expect("partner_left")); r != "disconnect" {
		t.Errorf("partner's partner_left reason %q, want disconnect", r)
	}
	code, _ = srv.Do(t, "POST", "/api/admin/users/"+a.UserID+"/disconnect", adminToken)
	if code != http.StatusNotFound {
		t.Errorf("disconnecting a gone user: %d, want 404", code)
	}
	var stats struct {
		ConnectedUsers int `json:"connectedUsers"`
	}
	_, body = srv.Do(t, "GET", "/api/stats", "")
	if err := json.Unmarshal([]byte(body), &stats); err != nil || stats.ConnectedUsers != 1 {
		t.Errorf("stats after disconnect: %s (%v), want 1 connected user", body, err)
	}
}

func TestAdminDrainStopsMatchingButKeepsPairs(t *testing.T) {
	srv := livetest.Start(t, withAdmin)
	a, b, room := pair(t, srv)
	waiting := livetest.MustDial(t, srv.WSURL)
	waiting.Send("find_partner", nil)
	waiting.Expect("waiting_for_partner")

	if code, body := srv.Do(t, "POST", "/api/admin/drain", adminToken); code != http.StatusOK {
		t.Fatalf("drain: %d %s", code, body)
	}
	var e struct {
		Code string `json:"code"`
	}
	waiting.Expect("error").Decode(t, &e)
	if e.Code != "draining" {
		t.Fatalf("waiting user got error %q, want draining", e.Code)
	}
	if code, _ := srv.Do(t, "GET", "/readyz", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while draining: %d, want 503", code)
	}
	if code, _ := srv.Do(t, "GET", "/api/rooms/"+room, ""); code != http.StatusOK {
		t.Fatalf("the existing room must go on while draining: %d", code)
	}
	a.Send("chat_message", map[string]string{"text": "still here"})
	var chat struct {
		Text string `json:"text"`
	}
	b.Expect("chat_message").Decode(t, &chat)
	if chat.Text != "still here" {
		t.Fatalf("chat while draining: %q", chat.Text)
	}
	// A newcomer is refused before the upgrade, for a balancer to send elsewhere.
	if _, resp, err := livetest.Dial(t, srv.WSURL, nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a new WebSocket while draining: %v, %v; want 503", err, resp)
	}
}
