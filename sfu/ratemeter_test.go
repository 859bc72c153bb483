package sfu

import (
	"testing"
	"time"
)

func TestRateMeterSlidingWindow(t *testing.T) {
	var m rateMeter
	base := int64(1000 * time.Second)
	// 1000 bytes every 10 ms for 5 s: 800 kbit/s.
	for i := range 500 {
		m.add(base+int64(i)*int64(10*time.Millisecond), 1000)
	}
	now := base + 5*int64(time.Second) - 1
	if got := m.bitrate(now); got < 780_000 || got > 820_000 {
		t.Fatalf("bitrate of a steady 800 kbit/s = %d", got)
	}
	// Ten seconds of silence empty the window.
	if got := m.bitrate(now + 10*int64(time.Second)); got != 0 {
		t.Fatalf("bitrate after 10 s of silence = %d, want 0", got)
	}
	// A slot is reused for a new second without keeping old bytes.
	later := now + 10*int64(time.Second)
	m.add(later, 100)
	if got, want := m.bitrate(later), int64(100*8*1e9)/(2e9+later%1e9); got != want {
		t.Fatalf("bitrate after one packet = %d, want %d", got, want)
	}
}
