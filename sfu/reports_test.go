package sfu

import (
	"testing"
	"time"
)

func TestReceptionReportCountsWrapsLossAndSenderReports(t *testing.T) {
	r := receptionStats{clockRate: 90000}
	start := time.Now().UnixNano()
	const frame = int64(time.Second / 30)
	// 65530 .. 65535, 0 .. 5 with 2 missing: 12 expected, 11 received, one wrap. Packets
	// arrive exactly on their timestamps, so the jitter stays 0.
	i := 0
	for seq := uint16(65530); seq != 6; seq++ {
		if seq != 2 {
			r.packet(seq, uint32(i)*3000, start+int64(i)*frame)
		}
		i++
	}
	r.senderReport(0x0000_1234_5678_0000, start)
	block, ok := r.report(42, start+int64(time.Second/2))
	if !ok {
		t.Fatal("no report after packets")
	}
	if block.SSRC != 42 || block.LastSequenceNumber != 1<<16+5 || block.TotalLost != 1 {
		t.Fatalf("block %+v: want SSRC 42, extended highest %d, 1 lost", block, 1<<16+5)
	}
	if block.FractionLost != 256/12 {
		t.Fatalf("fraction lost %d, want %d (1 of 12, in 1/256)", block.FractionLost, 256/12)
	}
	if block.Jitter != 0 {
		t.Fatalf("jitter %d for perfectly timed packets", block.Jitter)
	}
	if block.LastSenderReport != 0x1234_5678 || block.Delay != 1<<15 {
		t.Fatalf("LSR %#x DLSR %d, want 0x12345678 and half a second (%d)", block.LastSenderReport, block.Delay, 1<<15)
	}
	// Nothing lost since: the next interval's fraction is 0 while the total stays.
	block, _ = r.report(42, start+int64(time.Second))
	if block.FractionLost != 0 || block.TotalLost != 1 {
		t.Fatalf("second report %+v: want fraction 0, total 1", block)
	}
}

func TestReceptionReportJitterGrowsWithIrregularArrival(t *testing.T) {
	r := receptionStats{clockRate: 90000}
	start := time.Now().UnixNano()
	for i := range 50 {
		late := int64(0)
		if i%2 == 1 {
			late = int64(10 * time.Millisecond) // every other packet 10 ms (900 units) late
		}
		r.packet(uint16(i), uint32(i)*3000, start+int64(i)*int64(time.Second/30)+late)
	}
	block, _ := r.report(1, start)
	// Steady state of J += (|D| - J)/16 with |D| = 900 is 900; after 50 packets it is close.
	if block.Jitter < 600 || block.Jitter > 900 {
		t.Fatalf("jitter %d timestamp units, want between 600 and 900", block.Jitter)
	}
}

func TestSenderReportAdvancesTheNewestTimestamp(t *testing.T) {
	s := sendStats{clockRate: 90000}
	if _, ok := s.report(7, time.Now()); ok {
		t.Fatal("a sender report before anything was sent")
	}
	sent := time.Now()
	s.packet(1000, 1100, sent.UnixNano())
	s.packet(1000, 900, sent.UnixNano())
	sr, ok := s.report(7, sent.Add(100*time.Millisecond))
	if !ok {
		t.Fatal("no sender report after packets")
	}
	if sr.SSRC != 7 || sr.PacketCount != 2 || sr.OctetCount != 2000 || sr.RTPTime != 1000+9000 {
		t.Fatalf("sender report %+v: want SSRC 7, 2 packets, 2000 octets, RTP time 10000", sr)
	}
	if got := ntpCompact(sent.Add(100 * time.Millisecond)); uint32(sr.NTPTime>>16) != got {
		t.Fatalf("NTP time %#x does not match ntpCompact %#x", sr.NTPTime, got)
	}
}
