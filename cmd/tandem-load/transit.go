package main

import (
	"sync/atomic"
	"time"
)

// transitBucket is the resolution of transits, and transitBuckets*transitBucket the longest
// transit it tells apart (longer ones count in the last bucket).
const (
	transitBucket  = 10 * time.Microsecond
	transitBuckets = 10_000 // 100 ms
)

// transits is a histogram of how long media took from the sending client's write to the
// receiving client's read: through both clients' Pion stacks, the loopback and the server.
// Safe for concurrent use without locks: every received packet adds to it.
type transits struct {
	counts [transitBuckets]atomic.Uint64
}

// add records one transit; a negative one (clocks are the same on loopback, but a packet sent
// in the same microsecond may read as such) counts as zero.
func (t *transits) add(d time.Duration) {
	i := min(max(int(d/transitBucket), 0), transitBuckets-1)
	t.counts[i].Add(1)
}

// percentile returns the upper bound of the bucket holding the p-th percentile (0..100), and
// how many transits were recorded; 0, 0 for none.
func (t *transits) percentile(p float64) (time.Duration, uint64) {
	var total uint64
	for i := range t.counts {
		total += t.counts[i].Load()
	}
	if total == 0 {
		return 0, 0
	}
	want := uint64(float64(total-1)*p/100) + 1 // the rank of the percentile, from 1
	var seen uint64
	for i := range t.counts {
		if seen += t.counts[i].Load(); seen >= want {
			return time.Duration(i+1) * transitBucket, total
		}
	}
	return transitBuckets * transitBucket, total
}

// reset forgets every transit.
func (t *transits) reset() {
	for i := range t.counts {
		t.counts[i].Store(0)
	}
}
