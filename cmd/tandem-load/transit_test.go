package main

import (
	"testing"
	"time"
)

func TestTransitPercentiles(t *testing.T) {
	var tr transits
	if d, n := tr.percentile(50); d != 0 || n != 0 {
		t.Fatalf("empty: %s of %d", d, n)
	}
	for i := 1; i <= 100; i++ { // 100 µs, 200 µs, ... 10 ms
		tr.add(time.Duration(i)*100*time.Microsecond - time.Microsecond)
	}
	tr.add(-time.Millisecond)
	tr.add(time.Hour)
	cases := []struct {
		p    float64
		want time.Duration
	}{{0, 10 * time.Microsecond}, {50, 5 * time.Millisecond}, {99, 9900 * time.Microsecond}, {100, 100 * time.Millisecond}}
	for _, c := range cases {
		if d, n := tr.percentile(c.p); d != c.want || n != 102 {
			t.Errorf("p%v = %s of %d, want %s of 102", c.p, d, n, c.want)
		}
	}
	tr.reset()
	if _, n := tr.percentile(50); n != 0 {
		t.Fatalf("%d transits after reset", n)
	}
}
