package server_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tandemchat/tandem/internal/livetest"
	"github.com/tandemchat/tandem/internal/redistest"
)

// TestClusterCrowdOverThreeInstances spreads users with Pion clients over
// three instances: everyone is paired, whatever instances the two are on,
// and every pair exchanges media both ways and chats.
func TestClusterCrowdOverThreeInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("a crowd of Pion clients")
	}
	const users = 40 // the crowd
	r := redistest.Start(t)
	instances := []*livetest.Server{startInstance(t, r), startInstance(t, r), startInstance(t, r)}
	crowd := make([]*livetest.MediaUser, users)
	for i := range crowd {
		crowd[i] = mediaUser(t, instances[i%len(instances)], uint32(i+1))
	}
	for _, u := range crowd {
		u.WS.Send("find_partner", nil)
	}
	rooms := map[string][]int{} // room id -> the two users
	for i, u := range crowd {
		var d struct {
			RoomID string `json:"roomId"`
		}
		if err := json.Unmarshal(u.WaitFor(t, "partner_found").Data, &d); err != nil {
			t.Fatal(err)
		}
		rooms[d.RoomID] = append(rooms[d.RoomID], i)
	}
	across := 0
	for id, pair := range rooms {
		if len(pair) != 2 {
			t.Fatalf("room %s has users %v, want a pair", id, pair)
		}
		i, j := pair[0], pair[1]
		if i%len(instances) != j%len(instances) {
			across++
		}
		crowd[j].WaitPackets(t, uint32(i+1), 20)
		crowd[i].WaitPackets(t, uint32(j+1), 20)
		text := fmt.Sprintf("hello from %d", i)
		crowd[i].WS.Send("chat_message", map[string]string{"text": text})
		var chat struct{ Text string }
		if err := json.Unmarshal(crowd[j].WaitFor(t, "chat_message").Data, &chat); err != nil || chat.Text != text {
			t.Fatalf("user %d got chat %q (%v), want %q", j, chat.Text, err, text)
		}
	}
	if across == 0 {
		t.Fatal("no pair across instances: the test proves nothing about the cluster")
	}
	t.Logf("%d pairs, %d across instances", len(rooms), across)
}
