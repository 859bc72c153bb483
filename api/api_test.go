package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/livetest"
)

func TestHealthAndReadiness(t *testing.T) {
	srv := livetest.Start(t, nil)
	if code, _ := srv.Do(t, "GET", "/healthz", ""); code != http.StatusOK {
		t.Fatalf("/healthz %d", code)
	}
	if code, _ := srv.Do(t, "GET", "/readyz", ""); code != http.StatusOK {
		t.Fatalf("/readyz %d before draining", code)
	}
	srv.Hub().Drain()
	if code, _ := srv.Do(t, "GET", "/readyz", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz %d while draining, want 503", code)
	}
	if code, _ := srv.Do(t, "GET", "/healthz", ""); code != http.StatusOK {
		t.Fatalf("/healthz %d while draining, want 200", code)
	}
}

// statsBody is the part of /api/stats the contract fixes.
type statsBody struct {
	ConnectedUsers *int `json:"connectedUsers"`
	WaitingUsers   *int `json:"waitingUsers"`
	ActiveRooms    *int `json:"activeRooms"`
}

func getStats(t *testing.T, srv *livetest.Server) statsBody {
	t.Helper()
	code, body := srv.Do(t, "GET", "/api/stats", "")
	if code != http.StatusOK {
		t.Fatalf("/api/stats %d %s", code, body)
	}
	var s statsBody
	if err := json.Unmarshal([]byte(body), &s); err != nil || s.ConnectedUsers == nil || s.WaitingUsers == nil || s.ActiveRooms == nil {
		t.Fatalf("/api/stats body %s lacks the contract's fields (%v)", body, err)
	}
	return s
}

func TestStatsCountUsersQueueAndRooms(t *testing.T) {
	srv := livetest.Start(t, nil)
	if s := getStats(t, srv); *s.ConnectedUsers != 0 || *s.WaitingUsers != 0 || *s.ActiveRooms != 0 {
		t.Fatalf("empty server stats %+v", s)
	}
	a, b, _ := pair(t, srv)
	c := livetest.MustDial(t, srv.WSURL)
	c.Send("find_partner", nil)
	c.Expect("waiting_for_partner")
	s := getStats(t, srv)
	if *s.ConnectedUsers != 3 || *s.WaitingUsers != 1 || *s.ActiveRooms != 1 {
		t.Fatalf("stats %d connected, %d waiting, %d rooms; want 3, 1, 1", *s.ConnectedUsers, *s.WaitingUsers, *s.ActiveRooms)
	}
	a.Close()
	b.ExpectUntil("partner_left")
	s = getStats(t, srv)
	if *s.ActiveRooms != 0 {
		t.Fatalf("%d rooms after a disconnect", *s.ActiveRooms)
	}
}

// roomBody is one room as the contract describes it.
type roomBody struct {
	ID           string    `json:"id"`
	CreatedAt    time.Time `json:"createdAt"`
	BitrateBps   *int64    `json:"bitrateBps"`
	Participants []struct {
		UserID             string `json:"userId"`
		InboundBitrateBps  *int64 `json:"inboundBitrateBps"`
		OutboundBitrateBps *int64 `json:"outboundBitrateBps"`
	} `json:"participants"`
}

func TestRoomsListAndOneRoom(t *testing.T) {
	srv := livetest.Start(t, nil)
	before := time.Now().Add(-time.Second)
	_, _, roomID := pair(t, srv)

	code, body := srv.Do(t, "GET", "/api/rooms", "")
	var list struct {
		Rooms []roomBody `json:"rooms"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list.Rooms) != 1 {
		t.Fatalf("/api/rooms %d %s", code, body)
	}
	r := list.Rooms[0]
	if r.ID != roomID || r.CreatedAt.Before(before) || r.CreatedAt.After(time.Now()) || r.BitrateBps == nil {
		t.Fatalf("room %+v, want id %s created just now with a bitrate", r, roomID)
	}
	if len(r.Participants) != 2 || r.Participants[0].UserID == r.Participants[1].UserID {
		t.Fatalf("participants %+v", r.Participants)
	}
	for _, p := range r.Participants {
		if p.UserID == "" || p.InboundBitrateBps == nil || p.OutboundBitrateBps == nil {
			t.Fatalf("participant %+v lacks the contract's fields", p)
		}
	}

	code, body = srv.Do(t, "GET", "/api/rooms/"+roomID, "")
	var one roomBody
	if code != http.StatusOK || json.Unmarshal([]byte(body), &one) != nil || one.ID != roomID {
		t.Fatalf("/api/rooms/{id} %d %s", code, body)
	}
	if code, body = srv.Do(t, "GET", "/api/rooms/no-such-room", ""); code != http.StatusNotFound {
		t.Fatalf("/api/rooms/unknown %d %s, want 404", code, body)
	}
}

func TestPrivateStatsNeedTheAdminToken(t *testing.T) {
	srv := livetest.Start(t, func(c *config.Config) {
		c.HTTP.PublicStats = false
		withAdmin(c)
	})
	for _, path := range []string{"/api/stats", "/api/rooms"} {
		if code, _ := srv.Do(t, "GET", path, ""); code != http.StatusUnauthorized {
			t.Fatalf("%s without token: %d, want 401", path, code)
		}
		if code, _ := srv.Do(t, "GET", path, "wrong"); code != http.StatusForbidden {
			t.Fatalf("%s with a wrong token: %d, want 403", path, code)
		}
		if code, _ := srv.Do(t, "GET", path, adminToken); code != http.StatusOK {
			t.Fatalf("%s with the token: %d, want 200", path, code)
		}
	}
}
