package sfu

import (
	"testing"
	"time"
)

func TestRewriterContinuesSequenceAcrossSwitch(t *testing.T) {
	r := rewriter{clockRate: 90000, lastSeq: 1000, lastTS: 5000}
	now := int64(time.Hour)
	r.switchSource(40000, 123456, now)
	seq, ts, ok := r.rewrite(40000, 123456, now)
	if !ok || seq != 1001 || ts != 5001 {
		t.Fatalf("first packet of first source = (%d, %d, %v), want (1001, 5001, true)", seq, ts, ok)
	}
	seq, ts, _ = r.rewrite(40001, 123456+3000, now+int64(33*time.Millisecond))
	if seq != 1002 || ts != 8001 {
		t.Fatalf("second packet = (%d, %d), want (1002, 8001)", seq, ts)
	}

	// 100 ms later a new source with unrelated numbers starts.
	switchAt := now + int64(133*time.Millisecond)
	r.switchSource(7, 999, switchAt)
	seq, ts, ok = r.rewrite(7, 999, switchAt)
	if !ok || seq != 1003 {
		t.Fatalf("first packet after switch: seq %d ok %v, want 1003 true", seq, ok)
	}
	if want := uint32(8001 + 9000); ts != want {
		t.Fatalf("first packet after switch: ts %d, want %d (last + 100 ms at 90 kHz)", ts, want)
	}
}

func TestRewriterWrapsAt65535(t *testing.T) {
	r := rewriter{clockRate: 48000, lastSeq: 65534, lastTS: 0xFFFFFF00}
	now := int64(time.Hour)
	r.switchSource(100, 0, now)
	var got []uint16
	for i := range uint16(4) {
		seq, _, ok := r.rewrite(100+i, uint32(i)*960, now)
		if !ok {
			t.Fatalf("packet %d dropped", i)
		}
		got = append(got, seq)
	}
	want := []uint16{65535, 0, 1, 2}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("output sequence %v, want %v", got, want)
		}
	}

	// The input wrapping must not break the mapping either.
	r.switchSource(65534, 10, now+int64(time.Second))
	for i, in := range []uint16{65534, 65535, 0, 1} {
		seq, _, ok := r.rewrite(in, 10, now+int64(time.Second))
		if !ok || seq != uint16(3+i) {
			t.Fatalf("input %d -> (%d, %v), want (%d, true)", in, seq, ok, 3+i)
		}
	}
}

func TestRewriterReordering(t *testing.T) {
	r := rewriter{clockRate: 90000, lastSeq: 10, lastTS: 0}
	now := int64(time.Hour)
	r.switchSource(500, 0, now)
	order := []uint16{500, 502, 501, 504, 503}
	want := []uint16{11, 13, 12, 15, 14}
	for i, in := range order {
		seq, _, ok := r.rewrite(in, 0, now)
		if !ok || seq != want[i] {
			t.Fatalf("input %d -> (%d, %v), want (%d, true)", in, seq, ok, want[i])
		}
	}
	if r.lastSeq != 15 {
		t.Fatalf("lastSeq = %d after reordered input, want the newest, 15", r.lastSeq)
	}
	// A straggler from before the switch point would collide with the previous source.
	if _, _, ok := r.rewrite(499, 0, now); ok {
		t.Fatal("packet older than the switch point was not dropped")
	}
	// The next switch continues after the newest packet, not the last one written.
	r.switchSource(9, 0, now)
	if seq, _, _ := r.rewrite(9, 0, now); seq != 16 {
		t.Fatalf("after switch seq = %d, want 16", seq)
	}
}

func TestRewriterTimestampsIncreaseAcrossSeveralSwitches(t *testing.T) {
	r := newRewriter(90000)
	now := int64(time.Hour)
	var lastSeq uint16
	var lastTS uint32
	first := true
	// Sources with random-looking, even decreasing, timestamps; several switches, some with
	// no time passing at all.
	sources := []struct {
		seq   uint16
		ts    uint32
		pause time.Duration
	}{
		{100, 4000000000, 0}, {60000, 5, 50 * time.Millisecond}, {1, 3000000000, 0},
		{30000, 2, 2 * time.Second}, {65535, 0xFFFFFFFF, time.Millisecond},
	}
	for _, src := range sources {
		now += int64(src.pause)
		r.switchSource(src.seq, src.ts, now)
		for i := range 5 {
			seq, ts, ok := r.rewrite(src.seq+uint16(i), src.ts+uint32(i)*3000, now)
			if !ok {
				t.Fatalf("packet dropped")
			}
			if !first {
				if seq != lastSeq+1 {
					t.Fatalf("seq %d after %d, want consecutive", seq, lastSeq)
				}
				if int32(ts-lastTS) <= 0 && i == 0 {
					t.Fatalf("ts %d after %d at a switch, want increasing", ts, lastTS)
				}
				if int32(ts-lastTS) < 0 {
					t.Fatalf("ts %d after %d, want non-decreasing", ts, lastTS)
				}
			}
			first = false
			lastSeq, lastTS = seq, ts
			now += int64(33 * time.Millisecond)
		}
	}
}

func TestRewriterLongRunAcrossManyWraps(t *testing.T) {
	r := newRewriter(90000)
	now := int64(time.Hour)
	r.switchSource(30000, 0, now)
	prev, _, _ := r.rewrite(30000, 0, now)
	for i := 1; i < 3*65536; i++ {
		seq, _, ok := r.rewrite(uint16(30000+i), uint32(i)*3000, now)
		if !ok || seq != prev+1 {
			t.Fatalf("packet %d: (%d, %v) after %d, want the next number", i, seq, ok, prev)
		}
		prev = seq
	}
}
