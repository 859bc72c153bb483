package server_test

import (
	"context"
	"testing"

	"github.com/tandemchat/tandem/internal/livetest"
	"github.com/tandemchat/tandem/internal/redistest"
)

// TestClusterSlowRedisHoldsUpOnlyTheQueue pauses Redis while a user looks
// for a partner: the hub must not wait for the shared queue's answer with
// its mutex held, so a chat between two others goes through at once, and
// the user is answered once Redis is back.
func TestClusterSlowRedisHoldsUpOnlyTheQueue(t *testing.T) {
	r := redistest.Start(t)
	a := startInstance(t, r)
	u1, u2 := livetest.MustDial(t, a.WSURL), livetest.MustDial(t, a.WSURL)
	pairUp(t, u1, u2)
	u3 := livetest.MustDial(t, a.WSURL)

	// Every client of Redis waits for 800 ms (under the hub's 1 s bound on a
	// queue call); the command itself returns at once. A PING sent now
	// returns when the pause ends.
	c := r.Client(t)
	if err := c.Do(context.Background(), "CLIENT", "PAUSE", "800", "ALL").Err(); err != nil {
		t.Fatalf("pause Redis: %v", err)
	}
	resumed := make(chan struct{})
	go func() { defer close(resumed); _ = c.Ping(context.Background()).Err() }()

	u3.Send("find_partner", nil) // its shared-queue call now waits for Redis
	// u3's reader hands the hub its next message once the hub returned from
	// find_partner: the error comes first unless the hub waited for Redis.
	u3.Send("no_such_type", nil)
	u3.Expect("error")
	u1.Send("chat_message", map[string]string{"text": "while Redis is paused"})
	u2.ExpectUntil("chat_message")
	select {
	case <-resumed:
		t.Fatal("the chat went through only once Redis answered again: the hub waited for Redis")
	default:
	}
	u3.ExpectUntil("waiting_for_partner") // once Redis answers
	<-resumed
}

// TestClusterPartnerOfAUserWhoLeftIsPutBack has a user leave while the
// shared queue's answer to its find_partner is on its way: the partner that
// answer took (waiting on another instance) goes back in the queue and
// meets the next user.
func TestClusterPartnerOfAUserWhoLeftIsPutBack(t *testing.T) {
	r := redistest.Start(t)
	a, b := startInstance(t, r), startInstance(t, r)
	waiter := livetest.MustDial(t, b.WSURL)
	waiter.Send("find_partner", nil)
	waiter.Expect("waiting_for_partner")

	c := r.Client(t)
	if err := c.Do(context.Background(), "CLIENT", "PAUSE", "800", "ALL").Err(); err != nil {
		t.Fatalf("pause Redis: %v", err)
	}
	resumed := make(chan struct{})
	go func() { defer close(resumed); _ = c.Ping(context.Background()).Err() }()
	leaver := livetest.MustDial(t, a.WSURL)
	leaver.Send("find_partner", nil) // will take the waiter, once Redis answers
	leaver.Send("leave", nil)
	leaver.Send("no_such_type", nil)
	leaver.Expect("error") // the hub handled all three, and told the leaver nothing
	<-resumed

	next := livetest.MustDial(t, a.WSURL)
	next.Send("find_partner", nil)
	next.ExpectUntil("partner_found")
	waiter.Expect("partner_found") // its first message since it waited
}
