package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tandemchat/tandem/internal/redistest"
)

// newQueues returns one queue per instance name, all on one fresh Redis.
func newQueues(t *testing.T, instances ...string) []*Queue {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	qs := make([]*Queue, len(instances))
	for i, name := range instances {
		qs[i] = NewQueue(rdb, Prefix, name)
	}
	return qs
}

func add(t *testing.T, q *Queue, tk Ticket) (Match, bool) {
	t.Helper()
	m, ok, err := q.Add(context.Background(), tk)
	if err != nil {
		t.Fatal(err)
	}
	return m, ok
}

func mustQueue(t *testing.T, q *Queue, tk Ticket) {
	t.Helper()
	if m, ok := add(t, q, tk); ok {
		t.Fatalf("%s was paired with %s, want it queued", tk.ID, m.Partner)
	}
}

func mustPair(t *testing.T, q *Queue, tk Ticket, partner string) Match {
	t.Helper()
	m, ok := add(t, q, tk)
	if !ok || m.Partner != partner {
		t.Fatalf("%s: paired %v with %q, want %q", tk.ID, ok, m.Partner, partner)
	}
	return m
}

func queueLen(t *testing.T, q *Queue) int {
	t.Helper()
	n, err := q.Len(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestQueuePairsFirstComeFirstServedAcrossInstances(t *testing.T) {
	qs := newQueues(t, "x", "y")
	mustQueue(t, qs[0], Ticket{ID: "a", Info: `{"ip":"192.0.2.1"}`})
	mustQueue(t, qs[1], Ticket{ID: "b", Avoid: "a"}.withInterests("chess")) // closed: waits for chess
	m := mustPair(t, qs[1], Ticket{ID: "c"}, "a")
	if m.PartnerInstance != "x" || len(m.Common) != 0 || m.Common == nil || m.PartnerInfo != `{"ip":"192.0.2.1"}` {
		t.Fatalf("match %+v, want a on instance x, with its info, with no common interests", m)
	}
	if _, _, err := qs[0].Add(context.Background(), Ticket{ID: "b"}); !errors.Is(err, ErrAlreadyWaiting) {
		t.Fatalf("adding a waiting user again: %v, want ErrAlreadyWaiting", err)
	}
	if n := queueLen(t, qs[0]); n != 1 {
		t.Fatalf("%d waiting, want 1 (b)", n)
	}
}

func TestQueuePrefersASharedInterestAndOpensAfterTheWait(t *testing.T) {
	qs := newQueues(t, "x", "y")
	ctx := context.Background()
	mustQueue(t, qs[0], Ticket{ID: "open1"})
	mustQueue(t, qs[0], Ticket{ID: "music"}.withInterests("jazz", "music"))
	m := mustPair(t, qs[1], Ticket{ID: "fan"}.withInterests("music", "art"), "music")
	if fmt.Sprint(m.Common) != "[music]" {
		t.Fatalf("common %v, want [music]", m.Common)
	}
	// A user with interests nobody shares waits, closed, while an open user
	// is there; Open pairs it with that user.
	mustQueue(t, qs[1], Ticket{ID: "chess"}.withInterests("chess"))
	if m, ok, err := qs[1].Open(ctx, "chess"); err != nil || !ok || m.Partner != "open1" || m.PartnerInstance != "x" {
		t.Fatalf("open: %+v %v %v, want a match with open1 on x", m, ok, err)
	}
	if n := queueLen(t, qs[0]); n != 0 {
		t.Fatalf("%d still waiting, want 0", n)
	}
}

func TestQueuePairsPartedUsersAgainOnlyWhenNobodyElseWaits(t *testing.T) {
	qs := newQueues(t, "x")
	q := qs[0]
	mustQueue(t, q, Ticket{ID: "a", Avoid: "b"})
	mustPair(t, q, Ticket{ID: "b", Avoid: "a"}, "a") // only each other

	mustQueue(t, q, Ticket{ID: "a", Avoid: "b"})
	mustQueue(t, q, Ticket{ID: "c"}.withInterests("x")) // waits, closed to b
	mustQueue(t, q, Ticket{ID: "b", Avoid: "a"})        // someone else waits: not a again
	mustPair(t, q, Ticket{ID: "d"}, "a")                // the oldest open user
	mustPair(t, q, Ticket{ID: "e"}, "b")
}

func TestQueueNeverPairsBlockedUsersOrAcrossPools(t *testing.T) {
	qs := newQueues(t, "x", "y")
	ctx := context.Background()
	if err := qs[0].Block(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	mustQueue(t, qs[0], Ticket{ID: "a"})
	mustQueue(t, qs[1], Ticket{ID: "b"})                       // a blocked b: even alone, never
	mustQueue(t, qs[1], Ticket{ID: "low", Pool: PoolLowTrust}) // another pool
	mustPair(t, qs[1], Ticket{ID: "low2", Pool: PoolLowTrust}, "low")

	if err := qs[1].Forget(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if ok, err := qs[1].Remove(ctx, "b"); err != nil || !ok {
		t.Fatalf("remove b: %v %v", ok, err)
	}
	mustPair(t, qs[1], Ticket{ID: "b"}, "a") // the block ended with b's visit
}

func TestQueueRemoveInstanceTakesOutOnlyItsUsers(t *testing.T) {
	qs := newQueues(t, "x", "y")
	ctx := context.Background()
	mustQueue(t, qs[0], Ticket{ID: "x1"}.withInterests("a"))
	mustQueue(t, qs[0], Ticket{ID: "x2"}.withInterests("b"))
	mustQueue(t, qs[1], Ticket{ID: "y1"}.withInterests("c"))
	n, err := qs[1].RemoveInstance(ctx, "x")
	if err != nil || n != 2 {
		t.Fatalf("removed %d (%v), want 2", n, err)
	}
	if n := queueLen(t, qs[1]); n != 1 {
		t.Fatalf("%d waiting, want 1 (y1)", n)
	}
	mustPair(t, qs[1], Ticket{ID: "y2"}.withInterests("c"), "y1")
	if ok, err := qs[0].Remove(ctx, "x1"); err != nil || ok {
		t.Fatalf("x1 still waiting (%v, %v)", ok, err)
	}
}

// TestQueuePairsEachUserOnceUnderConcurrency adds 300 users from three
// instances at once: every user ends up paired exactly once or waiting, and
// at most one is left waiting.
func TestQueuePairsEachUserOnceUnderConcurrency(t *testing.T) {
	qs := newQueues(t, "x", "y", "z")
	const users = 300
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("u%d", i)
			m, ok, err := qs[i%3].Add(context.Background(), Ticket{ID: id})
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				seen[id]++
				seen[m.Partner]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s paired %d times", id, n)
		}
	}
	if waiting := queueLen(t, qs[0]); waiting+len(seen) != users || waiting > 1 {
		t.Fatalf("%d paired and %d waiting of %d users, want all but at most one paired", len(seen), waiting, users)
	}
}

func (tk Ticket) withInterests(tags ...string) Ticket {
	tk.Interests = tags
	return tk
}

// TestQueueKeepsApartSubjectsWhoReportedEachOtherInAnyVisit: users whose
// subjects were kept apart (one reported the other) are never paired, as the
// only two waiting, on different instances, in new visits (new user ids), nor
// after an interest wait; users of other subjects, or with none, are.
func TestQueueKeepsApartSubjectsWhoReportedEachOtherInAnyVisit(t *testing.T) {
	qs := newQueues(t, "x", "y")
	ctx := context.Background()
	if err := qs[0].KeepApart(ctx, "203.0.113.1", "identity:mallory", 0); err != nil {
		t.Fatal(err)
	}
	mustQueue(t, qs[0], Ticket{ID: "visit1", Subject: "identity:mallory", Avoid: "r1"})
	mustQueue(t, qs[1], Ticket{ID: "r1", Subject: "203.0.113.1", Avoid: "visit1"}) // even as the parted pair alone
	if ok, err := qs[0].Remove(ctx, "r1"); err != nil || !ok {
		t.Fatalf("remove r1: %v %v", ok, err)
	}
	mustQueue(t, qs[1], Ticket{ID: "r2", Subject: "203.0.113.1"})              // nor in another visit
	mustPair(t, qs[0], Ticket{ID: "other", Subject: "198.51.100.7"}, "visit1") // the oldest, for someone else
	mustPair(t, qs[0], Ticket{ID: "nobody"}, "r2")

	mustQueue(t, qs[0], Ticket{ID: "visit2", Subject: "identity:mallory"}.withInterests("chess"))
	mustQueue(t, qs[1], Ticket{ID: "r3", Subject: "203.0.113.1"}.withInterests("chess"))
	if m, ok, err := qs[1].Open(ctx, "r3"); err != nil || ok {
		t.Fatalf("r3 opened: paired %v with %q (%v), want still queued", ok, m.Partner, err)
	}
	n, err := qs[0].rdb.TTL(ctx, qs[0].apartKey("identity:mallory")).Result()
	if err != nil || n < DefaultApartFor-time.Minute {
		t.Fatalf("apart for %v (%v), want %v", n, err, DefaultApartFor)
	}
}
