package server_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tandemchat/tandem/api"
	"github.com/tandemchat/tandem/cluster"
	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/livetest"
	"github.com/tandemchat/tandem/internal/redistest"
	"github.com/tandemchat/tandem/moderation"
	"github.com/tandemchat/tandem/signaling"
)

// clusterSecret is the cluster secret of the test instances.
const clusterSecret = "the cluster secret of the server tests"

// startInstance starts a tandem instance in cluster mode on the Redis r,
// its media bridge on a free UDP port of 127.0.0.1.
func startInstance(t testing.TB, r *redistest.Server) *livetest.Server {
	t.Helper()
	return startInstanceWith(t, r, nil)
}

// startInstanceWith is startInstance with the configuration changed by edit.
func startInstanceWith(t testing.TB, r *redistest.Server, edit func(*config.Config)) *livetest.Server {
	t.Helper()
	return livetest.Start(t, func(c *config.Config) {
		c.Cluster = cluster.Config{RedisURL: "redis://" + r.Addr, Addr: freeUDPAddr(t), Secret: clusterSecret, BridgeHold: cluster.DefaultBridgeHold}
		if edit != nil {
			edit(c)
		}
	})
}

// freeUDPAddr returns a UDP address of 127.0.0.1 that was free a moment ago.
func freeUDPAddr(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// pairUp has a find a partner first and b then, and returns their room's
// id, failing unless both are told the same room.
func pairUp(t *testing.T, a, b *livetest.Client) string {
	t.Helper()
	a.Send("find_partner", nil)
	a.Expect("waiting_for_partner")
	b.Send("find_partner", nil)
	return sameRoom(t, a, b)
}

// sameRoom waits for partner_found on a and b and checks it names one room.
func sameRoom(t *testing.T, a, b *livetest.Client) string {
	t.Helper()
	var ra, rb struct {
		RoomID string `json:"roomId"`
	}
	b.ExpectUntil("partner_found").Decode(t, &rb)
	a.ExpectUntil("partner_found").Decode(t, &ra)
	if ra.RoomID == "" || ra.RoomID != rb.RoomID {
		t.Fatalf("partner_found rooms %q and %q, want one room", ra.RoomID, rb.RoomID)
	}
	return ra.RoomID
}

// expectLeft waits for partner_left on c and checks its reason.
func expectLeft(t *testing.T, c *livetest.Client, reason string) {
	t.Helper()
	var d struct {
		Reason string `json:"reason"`
	}
	c.ExpectUntil("partner_left").Decode(t, &d)
	if d.Reason != reason {
		t.Fatalf("partner_left reason %q, want %q", d.Reason, reason)
	}
}

// queueLen is how many users wait in the cluster's shared queue.
func queueLen(t *testing.T, r *redistest.Server) int {
	t.Helper()
	n, err := cluster.NewQueue(r.Client(t), cluster.Prefix, "").Len(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// roomUsers are the user ids of room id on instance s.
func roomUsers(t *testing.T, s *livetest.Server, id string) []string {
	t.Helper()
	info, ok := s.Hub().Room(id)
	if !ok {
		t.Fatalf("no room %s on this instance", id)
	}
	var out []string
	for _, p := range info.Participants {
		out = append(out, p.UserID)
	}
	return out
}

func TestClusterPairsAndRelaysAcrossInstances(t *testing.T) {
	r := redistest.Start(t)
	a, b := startInstance(t, r), startInstance(t, r)
	if a.Instance() == "" || a.Instance() == b.Instance() {
		t.Fatalf("instance ids %q and %q", a.Instance(), b.Instance())
	}
	ua, ub := livetest.MustDial(t, a.WSURL), livetest.MustDial(t, b.WSURL)
	room := pairUp(t, ua, ub)
	if got := roomUsers(t, a, room); got[0] != ua.UserID || got[1] != ub.UserID {
		t.Fatalf("room on the first instance has %v, want %s and %s", got, ua.UserID, ub.UserID)
	}
	if got := roomUsers(t, b, room); got[0] != ub.UserID || got[1] != ua.UserID {
		t.Fatalf("room on the second instance has %v, want %s and %s", got, ub.UserID, ua.UserID)
	}
	// The instance that made the pair counts it, with both users' waits.
	if ma, mb := a.Hub().Stats().TotalMatches, b.Hub().Stats().TotalMatches; ma != 0 || mb != 1 {
		t.Fatalf("matches counted %d and %d, want 0 and 1 (on the instance that made the pair)", ma, mb)
	}
	if _, body := b.Do(t, "GET", "/metrics", ""); !strings.Contains(body, `tandem_wait_seconds_count{instance="`+b.Instance()+`"} 2`) {
		t.Fatalf("the pair's two waits are not in the metrics:\n%s", body)
	}

	// Chat and typing reach the partner on the other instance, both ways.
	ua.Send("chat_message", map[string]string{"text": "hello from a"})
	var chat struct {
		Text string `json:"text"`
	}
	ub.Expect("chat_message").Decode(t, &chat)
	if chat.Text != "hello from a" {
		t.Fatalf("chat %q", chat.Text)
	}
	ub.Send("chat_message", map[string]string{"text": "hello from b"})
	ua.Expect("chat_message").Decode(t, &chat)
	if chat.Text != "hello from b" {
		t.Fatalf("chat %q", chat.Text)
	}
	ua.Send("typing", map[string]bool{"active": true})
	var typing struct {
		Active bool `json:"active"`
	}
	ub.Expect("partner_typing").Decode(t, &typing)
	if !typing.Active {
		t.Fatal("partner_typing not active")
	}

	// Two users of one instance are paired there: both halves are local.
	uc, ud := livetest.MustDial(t, a.WSURL), livetest.MustDial(t, a.WSURL)
	local := pairUp(t, uc, ud)
	if got := roomUsers(t, a, local); len(got) != 2 || got[0] != ud.UserID || got[1] != uc.UserID {
		t.Fatalf("local room has %v, want %s and %s (both on this instance)", got, ud.UserID, uc.UserID)
	}
	if _, ok := b.Hub().Room(local); ok {
		t.Fatal("a pair of one instance has a room on the other")
	}

	// Next across instances: ub leaves ua for ue, who waits on the first instance.
	ue := livetest.MustDial(t, a.WSURL)
	ue.Send("find_partner", nil)
	ue.Expect("waiting_for_partner")
	ub.Send("next_partner", nil)
	expectLeft(t, ua, "next")
	sameRoom(t, ue, ub)

	// leave and a closed connection reach the other instance with their reasons.
	ue.Send("leave", nil)
	expectLeft(t, ub, "leave")
	pairUp(t, ua, ub)
	ub.Close()
	expectLeft(t, ua, "disconnect")

	if n := queueLen(t, r); n != 0 {
		t.Fatalf("%d users left in the shared queue", n)
	}
	if st := a.Hub().Stats(); st.Cluster != "shared" || st.ActiveRooms != 1 {
		t.Fatalf("first instance: %+v, want cluster shared and the one local room", st)
	}
	if code, body := a.Do(t, "GET", "/readyz", ""); code != 200 || !strings.Contains(body, `"cluster":"shared"`) {
		t.Fatalf("/readyz: %d %s", code, body)
	}

	// A report of a partner on the other instance names it, with its address,
	// and the two are never paired again, though nobody else waits.
	ug := livetest.MustDial(t, b.WSURL)
	room = pairUp(t, ug, ua)
	ua.Send("report_partner", map[string]string{"reason": "nudity"})
	expectLeft(t, ug, "next")
	ua.ExpectUntil("report_received")
	reports, err := a.Moderation().Reports(moderation.ReportFilter{})
	if err != nil || len(reports) != 1 {
		t.Fatalf("%d reports (%v), want 1", len(reports), err)
	}
	if rep := reports[0]; rep.Reported.UserID != ug.UserID || rep.Reported.IP != "127.0.0.1" || rep.RoomID != room {
		t.Fatalf("report of %+v in room %s, want %s at 127.0.0.1 in %s", rep.Reported, rep.RoomID, ug.UserID, room)
	}
	ug.Send("find_partner", nil)
	ug.Expect("waiting_for_partner")
	if n := queueLen(t, r); n != 2 {
		t.Fatalf("%d in the shared queue, want the reporter and the reported, apart", n)
	}
}

// waitCluster waits until s reports the cluster state want.
func waitCluster(t *testing.T, s *livetest.Server, want string) {
	t.Helper()
	deadline := time.Now().Add(livetest.WaitFor)
	for s.Hub().Stats().Cluster != want {
		if time.Now().After(deadline) {
			t.Fatalf("cluster state %q after %v, want %q", s.Hub().Stats().Cluster, livetest.WaitFor, want)
		}
		time.Sleep(20 * time.Millisecond) // polling the hub's state, with a deadline
	}
}

func TestClusterWithoutRedisMatchesLocallyAndRejoins(t *testing.T) {
	r := redistest.Start(t)
	a, b := startInstance(t, r), startInstance(t, r)
	ua, ub := livetest.MustDial(t, a.WSURL), livetest.MustDial(t, b.WSURL)
	room := pairUp(t, ua, ub)

	r.Stop()
	waitCluster(t, a, "local_only")
	waitCluster(t, b, "local_only")
	if code, body := a.Do(t, "GET", "/readyz", ""); code != 200 || !strings.Contains(body, `"cluster":"local_only"`) {
		t.Fatalf("/readyz without Redis: %d %s", code, body)
	}
	if _, ok := a.Hub().Room(room); !ok {
		t.Fatal("the running call across instances ended when Redis stopped")
	}
	// Users of one instance are still paired, locally.
	uc, ud := livetest.MustDial(t, a.WSURL), livetest.MustDial(t, a.WSURL)
	pairUp(t, uc, ud)
	// One waiting when Redis comes back joins the shared queue.
	ue := livetest.MustDial(t, b.WSURL)
	ue.Send("find_partner", nil)
	ue.Expect("waiting_for_partner")

	r.Restart(t)
	waitCluster(t, a, "shared")
	waitCluster(t, b, "shared")
	uf := livetest.MustDial(t, a.WSURL)
	uf.Send("find_partner", nil)
	sameRoom(t, ue, uf)

	// The call across instances that outlived the outage still relays chat.
	ua.Send("chat_message", map[string]string{"text": "still here"})
	var chat struct {
		Text string `json:"text"`
	}
	ub.Expect("chat_message").Decode(t, &chat)
	if chat.Text != "still here" {
		t.Fatalf("chat %q", chat.Text)
	}
}

func TestClusterDrainStopsMatchesOnOneInstance(t *testing.T) {
	r := redistest.Start(t)
	a, b := startInstance(t, r), startInstance(t, r)
	ua, ub := livetest.MustDial(t, a.WSURL), livetest.MustDial(t, b.WSURL)
	room := pairUp(t, ua, ub)
	uw := livetest.MustDial(t, a.WSURL)
	uw.Send("find_partner", nil)
	uw.Expect("waiting_for_partner")

	a.Hub().Drain()
	uw.ExpectUntil("error") // draining: taken out of the shared queue
	if n := queueLen(t, r); n != 0 {
		t.Fatalf("%d in the shared queue after the drain, want 0", n)
	}
	uc := livetest.MustDial(t, b.WSURL)
	uc.Send("find_partner", nil)
	uc.Expect("waiting_for_partner") // nobody of the drained instance is offered
	if _, ok := a.Hub().Room(room); !ok {
		t.Fatal("the drain ended a running call across instances")
	}
	// The running call goes on: chat still crosses.
	ub.Send("chat_message", map[string]string{"text": "after the drain"})
	ua.Expect("chat_message")
}

func TestClusterStatsAndRoomsAnswerForEveryInstance(t *testing.T) {
	r := redistest.Start(t)
	a, b := startInstance(t, r), startInstance(t, r)
	ua, ub := livetest.MustDial(t, a.WSURL), livetest.MustDial(t, b.WSURL)
	across := pairUp(t, ua, ub)
	uc, ud := livetest.MustDial(t, b.WSURL), livetest.MustDial(t, b.WSURL)
	onB := pairUp(t, uc, ud)

	// The instances publish their figures every second: wait for them on a.
	var stats api.StatsResponse
	deadline := time.Now().Add(livetest.WaitFor)
	for {
		_, body := a.Do(t, "GET", "/api/stats", "")
		if err := json.Unmarshal([]byte(body), &stats); err != nil {
			t.Fatalf("/api/stats: %v: %s", err, body)
		}
		if tot := stats.ClusterTotal; tot != nil && tot.Instances == 2 && tot.ConnectedUsers == 4 && tot.ActiveRooms == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/api/stats on the first instance: %s", body)
		}
		time.Sleep(50 * time.Millisecond) // polling the published figures, with a deadline
	}
	if stats.ActiveRooms != 1 || len(stats.Instances) != 2 {
		t.Fatalf("this instance's rooms %d (want 1), instances listed %d (want 2)", stats.ActiveRooms, len(stats.Instances))
	}

	var rooms struct{ Rooms []signaling.RoomInfo }
	_, body := a.Do(t, "GET", "/api/rooms", "")
	if err := json.Unmarshal([]byte(body), &rooms); err != nil || len(rooms.Rooms) != 2 {
		t.Fatalf("/api/rooms: %v: %s", err, body)
	}
	where := map[string]string{} // user -> instance, as the rooms say
	for _, room := range rooms.Rooms {
		if room.ID != across && room.ID != onB {
			t.Fatalf("unknown room %s", room.ID)
		}
		for _, p := range room.Participants {
			where[p.UserID] = p.Instance
		}
	}
	want := map[string]string{ua.UserID: a.Instance(), ub.UserID: b.Instance(), uc.UserID: b.Instance(), ud.UserID: b.Instance()}
	for u, in := range want {
		if where[u] != in {
			t.Errorf("user %s shown on instance %q, want %q", u, where[u], in)
		}
	}
	if code, body := a.Do(t, "GET", "/api/rooms/"+onB, ""); code != 200 || !strings.Contains(body, uc.UserID) {
		t.Fatalf("the other instance's room from this one: %d %s", code, body)
	}
}

func TestClusterAdminOperationsReachTheOtherInstance(t *testing.T) {
	const token = "the admin token of the cluster test"
	r := redistest.Start(t)
	withToken := func(c *config.Config) { c.Admin.Token = token }
	a, b := startInstanceWith(t, r, withToken), startInstanceWith(t, r, withToken)
	uc, ud := livetest.MustDial(t, b.WSURL), livetest.MustDial(t, b.WSURL)
	onB := pairUp(t, uc, ud)

	// Ended from the first instance once it sees the room (published each second).
	deadline := time.Now().Add(livetest.WaitFor)
	for {
		code, body := a.Do(t, "POST", "/api/admin/rooms/"+onB+"/end", token)
		if code == 202 {
			break
		}
		if code != 404 || time.Now().After(deadline) {
			t.Fatalf("end a room of the other instance: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond) // polling until the room is published, with a deadline
	}
	expectLeft(t, uc, "ended")
	expectLeft(t, ud, "ended")

	if code, body := a.Do(t, "POST", "/api/admin/users/"+ud.UserID+"/disconnect", token); code != 202 {
		t.Fatalf("disconnect a user of the other instance: %d %s", code, body)
	}
	if code := ud.ExpectClosed(); code != 1008 {
		t.Fatalf("close status %d, want 1008", code)
	}
	if code, _ := a.Do(t, "POST", "/api/admin/rooms/no-such-room/end", token); code != 404 {
		t.Fatalf("ending an unknown room: %d, want 404", code)
	}
}

func TestClusterDrainOfOneInstanceFromAnother(t *testing.T) {
	const token = "the admin token of the drain test"
	r := redistest.Start(t)
	withToken := func(c *config.Config) { c.Admin.Token = token }
	a, b := startInstanceWith(t, r, withToken), startInstanceWith(t, r, withToken)

	if code, body := b.Do(t, "POST", "/api/admin/drain?instance=no-such-instance", token); code != 404 {
		t.Fatalf("drain of an unknown instance: %d %s, want 404", code, body)
	}
	// Asked of b, for a: accepted once b sees a (views are published each second).
	deadline := time.Now().Add(livetest.WaitFor)
	for {
		code, body := b.Do(t, "POST", "/api/admin/drain?instance="+a.Instance(), token)
		if code == 202 {
			break
		}
		if code != 404 || time.Now().After(deadline) {
			t.Fatalf("drain of the other instance: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond) // polling until a's view is published, with a deadline
	}
	for !a.Hub().Draining() {
		if time.Now().After(deadline) {
			t.Fatal("the instance named in the drain is not draining")
		}
		time.Sleep(10 * time.Millisecond) // polling for the bus message, with a deadline
	}
	if code, _ := a.Do(t, "GET", "/readyz", ""); code != 503 {
		t.Fatalf("/readyz of the drained instance: %d, want 503", code)
	}
	if b.Hub().Draining() {
		t.Fatal("the instance that passed the drain on drains too")
	}
	// Naming itself, an instance drains at once.
	if code, body := b.Do(t, "POST", "/api/admin/drain?instance="+b.Instance(), token); code != 200 || !b.Hub().Draining() {
		t.Fatalf("drain of the instance asked: %d %s", code, body)
	}
}
