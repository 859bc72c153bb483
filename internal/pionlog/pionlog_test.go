package pionlog

import (
	"context"
	"log/slog"
	"sync"
	"testing"
)

// recordHandler keeps the records it is given.
type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r)
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func TestPionLogsAreLoweredAndLimited(t *testing.T) {
	h := &recordHandler{}
	log := New(slog.New(h)).NewLogger("turn")

	log.Trace("trace")
	log.Debugf("debug %d", 1)
	log.Infof("info %d", 1)
	log.Warn("warn")
	log.Error("error")
	if len(h.records) != 3 {
		t.Fatalf("got %d records, want 3 (trace and debug dropped)", len(h.records))
	}
	wantLevels := []slog.Level{slog.LevelDebug, slog.LevelWarn, slog.LevelWarn}
	for i, r := range h.records {
		if r.Level != wantLevels[i] {
			t.Errorf("record %q at %v, want %v", r.Message, r.Level, wantLevels[i])
		}
	}

	// A flood of per-packet errors: far fewer reach the log. (The limit
	// lets 5 per second through after a burst of 20; this loop takes well
	// under the 16 s it would need to pass 100.)
	for range 100 {
		log.Errorf("Failed to send ChannelData %d", 1)
	}
	if n := len(h.records) - 3; n >= 100 || n == 0 {
		t.Errorf("%d of 100 flooded messages logged, want some but far fewer", n)
	}
}

func TestMessagesWithoutArgumentsAreKeptVerbatim(t *testing.T) {
	h := &recordHandler{}
	New(slog.New(h)).NewLogger("ice").Warn("100% lost")
	if len(h.records) != 1 || h.records[0].Message != "100% lost" {
		t.Fatalf("records %+v", h.records)
	}
}

// TestRoutineWarningsAreDebug: the warnings every call's set-up and teardown
// produce are logged at debug; the same kinds of message about a real
// failure stay warnings.
func TestRoutineWarningsAreDebug(t *testing.T) {
	h := &recordHandler{}
	f := New(slog.New(h))
	f.NewLogger("ice").Warn("Failed to ping without candidate pairs. Connection is not possible yet.")
	f.NewLogger("pc").Warnf("Failed to accept RTP %v", "stream is already closed")
	f.NewLogger("pc").Warnf("Failed to accept RTCP %v", "stream is already closed")
	f.NewLogger("pc").Warnf("Could not determine PayloadType for SSRC %d (%s)", 1, "EOF")
	f.NewLogger("pc").Warnf("Could not determine PayloadType for SSRC %d (%s)", 2, "unknown payload type")
	f.NewLogger("pc").Errorf("Failed to accept RTP %v", "srtp: bad key")
	want := []slog.Level{slog.LevelDebug, slog.LevelDebug, slog.LevelDebug, slog.LevelDebug, slog.LevelWarn, slog.LevelWarn}
	if len(h.records) != len(want) {
		t.Fatalf("got %d records, want %d", len(h.records), len(want))
	}
	for i, r := range h.records {
		if r.Level != want[i] {
			t.Errorf("%q at %v, want %v", r.Message, r.Level, want[i])
		}
	}
}
