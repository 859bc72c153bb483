package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/tandemchat/tandem/internal/redistest"
	"github.com/tandemchat/tandem/internal/testlog"
)

// TestBusDeliversInOrderOnceAlsoWhenTheReceiverStartsLate sends messages to
// an instance before and while it reads: each arrives once, in order.
func TestBusDeliversInOrderOnceAlsoWhenTheReceiverStartsLate(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	log, _ := testlog.NewLogger(t, "bus log", 0)
	x, y := NewBus(rdb, Prefix, "x", log), NewBus(rdb, Prefix, "y", log)
	ctx, cancel := context.WithCancel(context.Background())
	send := func(i int) {
		m := Message{Type: "chat_message", To: "bob", From: "alice", Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
		if err := x.Send(ctx, "y", m); err != nil {
			t.Fatal(err)
		}
	}
	const n = 500
	for i := range n / 2 { // before y reads: a busy or starting instance
		send(i)
	}
	var mu sync.Mutex
	var got []int
	done := make(chan struct{})
	go func() {
		defer close(done)
		y.Run(ctx, func(m Message) {
			var d struct{ N int }
			if err := json.Unmarshal(m.Data, &d); err != nil || m.To != "bob" {
				t.Errorf("message %+v: %v", m, err)
			}
			mu.Lock()
			got = append(got, d.N)
			mu.Unlock()
		})
	}()
	for i := n / 2; i < n; i++ {
		send(i)
	}
	waitUntil(t, "every message arrived", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= n
	})
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n {
		t.Fatalf("%d messages arrived, want %d", len(got), n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("message %d is %d: out of order or duplicated", i, v)
		}
	}
	// nothing for x
	if l, err := rdb.XLen(context.Background(), Prefix+":bus:x").Result(); err != nil || l != 0 {
		t.Fatalf("x's stream holds %d (%v), want 0", l, err)
	}
}
