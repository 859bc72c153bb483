package sfu

import "sync/atomic"

// rateMeter measures a byte rate over a sliding window of the last two whole seconds plus the
// current partial one. Safe for concurrent use; two writers racing on a second boundary may
// lose a few bytes, which a statistic can afford.
type rateMeter struct {
	slots [4]rateSlot
}

type rateSlot struct {
	second atomic.Int64 // unix second this slot counts
	bytes  atomic.Int64
}

// add counts n bytes at unix nanos now. No allocation, no lock.
func (m *rateMeter) add(now int64, n int) {
	sec := now / 1e9
	s := &m.slots[sec&3]
	if old := s.second.Load(); old != sec && s.second.CompareAndSwap(old, sec) {
		s.bytes.Store(0)
	}
	s.bytes.Add(int64(n))
}

// bitrate returns bits per second over the window ending at unix nanos now.
func (m *rateMeter) bitrate(now int64) int64 {
	sec := now / 1e9
	var bytes int64
	for i := range m.slots {
		s := &m.slots[i]
		if d := sec - s.second.Load(); d >= 0 && d <= 2 {
			bytes += s.bytes.Load()
		}
	}
	window := 2e9 + now%1e9 // nanoseconds covered
	return bytes * 8 * 1e9 / window
}
