package sfu

import (
	"slices"
	"testing"
)

func TestNACKGeneratorListsGapsAcrossTheWrapAndGivesUp(t *testing.T) {
	var g nackGenerator
	// 65533, 65534 arrive; 65535 and 0 are lost; 1 arrives; 2 is lost; 3 arrives.
	for _, seq := range []uint16{65533, 65534, 1, 3} {
		g.packet(seq)
	}
	want := []uint16{65535, 0, 2}
	for try := 1; try <= nackMaxTries; try++ {
		if got, lost := g.missing(nil); !slices.Equal(got, want) || lost != 0 {
			t.Fatalf("request %d: missing %v (%d lost), want %v", try, got, lost, want)
		}
		if try == 1 {
			g.packet(0) // a retransmission arrives late
			want = []uint16{65535, 2}
		}
	}
	// The next round gives up the two still missing, once.
	if got, lost := g.missing(nil); len(got) != 0 || lost != 2 {
		t.Fatalf("after %d requests: asking for %v, %d given up; want nothing asked, 2 given up", nackMaxTries, got, lost)
	}
	if _, lost := g.missing(nil); lost != 0 {
		t.Fatalf("%d given up again", lost)
	}
	// A new gap is asked for although older ones were given up.
	g.packet(5)
	if got, _ := g.missing(nil); !slices.Equal(got, []uint16{4}) {
		t.Fatalf("missing %v after a new gap, want [4]", got)
	}
}

func TestNACKGeneratorForgetsWhatLeftTheWindow(t *testing.T) {
	var g nackGenerator
	g.packet(100)
	g.packet(102) // 101 lost
	g.packet(102 + nackWindow)
	got, _ := g.missing(nil)
	if slices.Contains(got, 101) || len(got) != nackWindow-1 {
		t.Fatalf("after a jump of a whole window: %d missing (101 listed: %v), want the %d inside the window",
			len(got), slices.Contains(got, 101), nackWindow-1)
	}
	// A packet older than the window is ignored, not counted as a late arrival.
	g.packet(101)
	if again, _ := g.missing(nil); len(again) != nackWindow-1 {
		t.Fatalf("%d missing after an out-of-window packet, want %d", len(again), nackWindow-1)
	}
}

func TestNACKGeneratorPacketDoesNotAllocate(t *testing.T) {
	var g nackGenerator
	seq := uint16(0)
	allocs := testing.AllocsPerRun(1000, func() {
		seq += 2 // one lost packet per arrival: the gap path runs too
		g.packet(seq)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per packet, want 0", allocs)
	}
}

func TestNACKGeneratorReportsTheGapsItOpens(t *testing.T) {
	var g nackGenerator
	for _, c := range []struct {
		seq uint16
		gap bool
	}{{10, false}, {11, false}, {14, true}, {12, false}, {13, false}, {15, false}, {15 + nackWindow, false}} {
		if got := g.packet(c.seq); got != c.gap {
			t.Errorf("packet(%d) gap %v, want %v", c.seq, got, c.gap)
		}
	}
}
