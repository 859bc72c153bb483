package signaling

import (
	"fmt"
	"math/rand"
	"runtime"
	"sync"
	"testing"
)

// checkInvariants verifies the hub's bookkeeping: every session is in
// exactly one state, rooms and sessions point at each other, and the queue
// holds exactly the waiting sessions.
func (h *Hub) checkInvariants() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	waitingCount := 0
	for id, s := range h.sessions {
		switch s.state {
		case idle:
			if s.room != nil || h.match.Waiting(id) {
				return fmt.Errorf("idle %s has a room or a queue place", id)
			}
		case waiting:
			waitingCount++
			if s.room != nil || !h.match.Waiting(id) {
				return fmt.Errorf("waiting %s has a room or no queue place", id)
			}
		case paired:
			r := s.room
			if r == nil || h.rooms[r.ID] != r || (r.a != s && r.b != s) || h.match.Waiting(id) {
				return fmt.Errorf("paired %s has a bad room", id)
			}
			if o := r.other(s); o == s || o.room != r || h.sessions[o.id] != o {
				return fmt.Errorf("room %s pairs %s with a bad partner", r.ID, id)
			}
		}
	}
	if waitingCount != h.match.Len() {
		return fmt.Errorf("%d sessions waiting, queue holds %d", waitingCount, h.match.Len())
	}
	for id, r := range h.rooms {
		if r.a.room != r || r.b.room != r {
			return fmt.Errorf("room %s is not its users' room", id)
		}
	}
	return nil
}

func TestThousandCyclesLeaveNothingBehind(t *testing.T) {
	// goleak.VerifyTestMain checks the whole package after the hub closes;
	// here the goroutine count must come back to its baseline while it runs.
	h := newTestHub(t, nil)
	baseline := runtime.NumGoroutine()
	for i := 0; i < 1000; i++ {
		a, b := h.dial(t), h.dial(t)
		pair(t, a, b)
		b.send("next_partner", nil)
		a.expectPartnerLeft(ReasonNext)
		b.expect("waiting_for_partner")
		a.conn.Close()
		b.conn.Close()
		a.expectClosed()
		b.expectClosed()
		eventually(t, "every session to end", func() bool {
			s := h.Stats()
			return s.ConnectedUsers == 0 && s.WaitingUsers == 0 && s.ActiveRooms == 0
		})
	}
	if err := h.checkInvariants(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline })
	if s := h.Stats(); s.TotalMatches != 1000 {
		t.Fatalf("%d matches, want 1000", s.TotalMatches)
	}
}

// TestConcurrentChurnKeepsInvariants lets many clients find, next, leave
// and disconnect at random at the same time, including both partners
// pressing next at once and disconnecting while being matched.
func TestConcurrentChurnKeepsInvariants(t *testing.T) {
	h := newTestHub(t, nil)
	const clients, rounds = 24, 60
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			c := h.dialRaw(t)
			for r := 0; r < rounds; r++ {
				switch rng.Intn(10) {
				case 0:
					c.conn.Close()
					c = h.dialRaw(t)
				case 1, 2:
					c.conn.WriteJSON(outEnvelope{Type: "leave"})
				case 3, 4, 5:
					c.conn.WriteJSON(outEnvelope{Type: "find_partner", Data: findData{Interests: []string{"go"}[:rng.Intn(2)]}})
				default:
					c.conn.WriteJSON(outEnvelope{Type: "next_partner"})
				}
			}
			c.conn.Close()
		}(int64(i))
	}
	// Check while the churn runs, then after it.
	for i := 0; i < 20; i++ {
		if err := h.checkInvariants(); err != nil {
			t.Fatal(err)
		}
		runtime.Gosched()
	}
	wg.Wait()
	eventually(t, "every session to end", func() bool { return h.Stats().ConnectedUsers == 0 })
	if err := h.checkInvariants(); err != nil {
		t.Fatal(err)
	}
	if s := h.Stats(); s.WaitingUsers != 0 || s.ActiveRooms != 0 {
		t.Fatalf("left behind: %+v", s)
	}
}

func TestBothPressNextAtOnce(t *testing.T) {
	h := newTestHub(t, nil)
	for i := 0; i < 20; i++ {
		a, b := h.dial(t), h.dial(t)
		pair(t, a, b)
		var wg sync.WaitGroup
		for _, c := range []*client{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); c.conn.WriteJSON(outEnvelope{Type: "next_partner"}) }()
		}
		wg.Wait()
		// Each ends either re-paired with the other (nobody else waits) or
		// told its partner left; never paired twice.
		eventually(t, "both settled", func() bool {
			s := h.Stats()
			return s.ActiveRooms == 1 && s.WaitingUsers == 0
		})
		if err := h.checkInvariants(); err != nil {
			t.Fatal(err)
		}
		a.conn.Close()
		b.conn.Close()
		eventually(t, "sessions gone", func() bool { return h.Stats().ConnectedUsers == 0 })
	}
}
