package metrics

import (
	"io"
	"net/http/httptest"
	"testing"

	"github.com/tandemchat/tandem/access"
	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/signaling"
	"github.com/tandemchat/tandem/turn"
)

// BenchmarkScrape serves one full /metrics answer (tandem's, Go's and the
// process's metrics) from constant snapshots.
func BenchmarkScrape(b *testing.B) {
	m := New(Sources{
		Hub:    func() signaling.Stats { return signaling.Stats{ConnectedUsers: 100} },
		Media:  func() sfu.Stats { return sfu.Stats{VideoPacketsForwarded: 1e9} },
		TURN:   func() turn.Stats { return turn.Stats{} },
		Access: func() access.Stats { return access.Stats{} },
	})
	h := m.Handler()
	r := httptest.NewRequest("GET", "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		io.Copy(io.Discard, w.Body)
	}
}

// BenchmarkObserve is the cost the hub and the SFU pay per event.
func BenchmarkObserve(b *testing.B) {
	m := New(Sources{})
	b.ReportAllocs()
	for b.Loop() {
		m.Matched(1e9, 0)
		m.VideoSwitched(2e8)
		m.ErrorSent(signaling.CodeRateLimited)
	}
}
