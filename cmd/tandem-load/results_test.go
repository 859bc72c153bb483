package main

import (
	"os"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if got := percentile(ds, 50); got != 50*time.Millisecond {
		t.Fatalf("p50 = %s, want 50ms", got)
	}
	if got := percentile(ds, 95); got != 95*time.Millisecond {
		t.Fatalf("p95 = %s, want 95ms", got)
	}
	if ds[0] != 100*time.Millisecond {
		t.Fatal("percentile sorted its input in place")
	}
	if got := percentile(nil, 50); got != 0 {
		t.Fatalf("p50 of nothing = %s", got)
	}
}

func TestSampleProcReadsThisProcess(t *testing.T) {
	before, err := sampleProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn a little CPU so the counter can move (it counts in 10 ms ticks).
	deadline := time.Now().Add(5 * time.Second)
	var after procSample
	for x := 0; ; x++ {
		if x%1_000_000 == 0 {
			if after, err = sampleProc(os.Getpid()); err != nil {
				t.Fatal(err)
			}
			if after.cpu > before.cpu || time.Now().After(deadline) {
				break
			}
		}
	}
	if after.cpu <= before.cpu {
		t.Fatalf("CPU time did not advance: %s then %s", before.cpu, after.cpu)
	}
	if after.sys < 0 || after.sys > after.cpu {
		t.Fatalf("system CPU %s outside 0..total %s", after.sys, after.cpu)
	}
	if after.rss < 1<<20 {
		t.Fatalf("RSS %d bytes, want at least 1 MB for a Go test binary", after.rss)
	}
	// A thread that sleeps and wakes is switched out and in: the count grows.
	for i := 0; i < 100; i++ {
		time.Sleep(time.Millisecond)
	}
	later, err := sampleProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if later.switches <= after.switches {
		t.Fatalf("context switches did not advance over 100 sleeps: %d then %d", after.switches, later.switches)
	}
}

func TestURLsDerivedFromTheWebSocketURL(t *testing.T) {
	tests := []struct{ ws, origin, stats string }{
		{"ws://127.0.0.1:3000/ws", "http://127.0.0.1:3000", "http://127.0.0.1:3000/api/stats"},
		{"wss://chat.example:8443/ws", "https://chat.example:8443", "https://chat.example:8443/api/stats"},
	}
	for _, tt := range tests {
		origin, err := originOf(tt.ws)
		if err != nil || origin != tt.origin {
			t.Errorf("originOf(%q) = %q, %v; want %q", tt.ws, origin, err, tt.origin)
		}
		stats, err := apiURL(tt.ws, "/api/stats")
		if err != nil || stats != tt.stats {
			t.Errorf("apiURL(%q) = %q, %v; want %q", tt.ws, stats, err, tt.stats)
		}
	}
}
