package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tandemchat/tandem/internal/redistest"
	"github.com/tandemchat/tandem/internal/testlog"
)

// TestRegistryListsLiveInstancesAndBuriesADeadOneOnce registers three
// instances, lets one's heartbeat lapse as a killed process's would, and
// checks that exactly one survivor is told, once, and that a clean stop is
// not a death.
func TestRegistryListsLiveInstancesAndBuriesADeadOneOnce(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	log, _ := testlog.NewLogger(t, "registry log", 0)
	const ttl = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	deaths := map[string]int{}
	var wg sync.WaitGroup
	regs := map[string]*Registry{}
	runs := map[string]context.CancelFunc{}
	for _, id := range []string{"x", "y", "z"} {
		r := NewRegistry(rdb, Prefix, Instance{ID: id, BridgeAddr: "127.0.0.1:1" + id}, ttl, log)
		r.OnDead(func(dead string) {
			mu.Lock()
			deaths[dead]++
			mu.Unlock()
		})
		if err := r.Register(ctx); err != nil {
			t.Fatal(err)
		}
		regs[id] = r
		if id == "z" {
			continue // z registers once and never beats again: a killed process
		}
		runCtx, stop := context.WithCancel(ctx)
		runs[id] = stop
		wg.Add(1)
		go func() { defer wg.Done(); r.Run(runCtx) }()
	}
	defer wg.Wait()
	defer cancel()

	if live, err := regs["x"].Instances(ctx); err != nil || len(live) != 3 {
		t.Fatalf("live instances %v (%v), want x, y and z", live, err)
	}
	waitUntil(t, "z is buried", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return deaths["z"] == 1
	})
	runs["y"]() // a clean stop
	waitUntil(t, "only x is left", func() bool {
		live, err := regs["x"].Instances(ctx)
		return err == nil && len(live) == 1 && live[0].ID == "x" && live[0].BridgeAddr == "127.0.0.1:1x"
	})
	// y left cleanly several sweeps after z was buried: nobody else is
	// buried, and z not twice
	mu.Lock()
	defer mu.Unlock()
	if len(deaths) != 1 || deaths["z"] != 1 {
		t.Fatalf("deaths %v, want z once (y stopped cleanly)", deaths)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
