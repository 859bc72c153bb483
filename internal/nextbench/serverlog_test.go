package nextbench

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tandemchat/tandem/internal/testlog"
)

// switchRecord is one "video switch" debug line of the SFU: a switch's
// timeline (docs/sfu.md) and when it was logged (the keyframe forwarded).
type switchRecord struct {
	at                                             time.Time
	peer, partner                                  string
	pli, keyframeIn, firstOut, keyframeOut, pairAt float64 // ms after the Pair; pairAt: unix ms
	fromCache                                      bool    // the keyframe was replayed from the cache
}

// serverLog is the in-process server's slog handler: records at Info and
// above go to a buffer printed if the benchmark fails; the SFU's debug
// records are enabled too, and its "video switch" lines are kept.
type serverLog struct {
	out   slog.Handler // Info and above, as text
	sfu   bool         // this handler's logger is the SFU's (component=sfu)
	state *switchLog
}

// switchLog holds the timelines logged so far; shared by a serverLog and its
// children.
type switchLog struct {
	mu       sync.Mutex
	switches []switchRecord
}

func newServerLog(buf *testlog.Buffer) *serverLog {
	return &serverLog{out: slog.NewTextHandler(buf, nil), state: &switchLog{}}
}

// Enabled implements slog.Handler.
func (h *serverLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || (h.sfu && l >= slog.LevelDebug)
}

// Handle implements slog.Handler.
func (h *serverLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "video switch" {
		s := switchRecord{at: r.Time}
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "peer":
				s.peer = a.Value.String()
			case "partner":
				s.partner = a.Value.String()
			case "pli_sent_ms":
				s.pli = a.Value.Float64()
			case "keyframe_received_ms":
				s.keyframeIn = a.Value.Float64()
			case "first_forwarded_ms":
				s.firstOut = a.Value.Float64()
			case "keyframe_forwarded_ms":
				s.keyframeOut = a.Value.Float64()
			case "from_cache":
				s.fromCache = a.Value.Bool()
			}
			return true
		})
		s.pairAt = float64(r.Time.UnixMicro())/1000 - s.keyframeOut
		h.state.mu.Lock()
		h.state.switches = append(h.state.switches, s)
		h.state.mu.Unlock()
		return nil
	}
	if r.Level < slog.LevelInfo {
		return nil
	}
	return h.out.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *serverLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.out = h.out.WithAttrs(attrs)
	for _, a := range attrs {
		if a.Key == "component" && a.Value.String() == "sfu" {
			c.sfu = true
		}
	}
	return &c
}

// WithGroup implements slog.Handler.
func (h *serverLog) WithGroup(name string) slog.Handler {
	c := *h
	c.out = h.out.WithGroup(name)
	return &c
}

// switchOf returns the timeline of the switch that made peer receive partner,
// logged after the unix-ms time since, if there is one yet.
func (h *serverLog) switchOf(peer, partner string, since float64) (switchRecord, bool) {
	h.state.mu.Lock()
	defer h.state.mu.Unlock()
	for _, s := range h.state.switches {
		if s.peer == peer && s.partner == partner && s.pairAt >= since-5 {
			return s, true
		}
	}
	return switchRecord{}, false
}
