package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/tandemchat/tandem/access"
	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/signaling"
	"github.com/tandemchat/tandem/turn"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestCollectorReadsTheSnapshotsAtScrapeTime(t *testing.T) {
	hub := signaling.Stats{ConnectedUsers: 5, WaitingUsers: 1, ActiveRooms: 2, TotalMatches: 9, Draining: true}
	media := sfu.Stats{AudioPacketsForwarded: 10, VideoPacketsForwarded: 20, AudioBytesForwarded: 1000,
		VideoBytesForwarded: 20000, PLIsSent: 3, NACKsReceived: 4, KeyframeSwitches: 2, Peers: 4, FastPathPackets: 25,
		FastPathPacketsSent: 26, RetransmissionsDuplicate: 11, RetransmissionsOverBudget: 12,
		CandidatesRefused: 13, SourcesRefused: 14, REMBsReceived: 15, CapsSent: 16, VideoPauses: 17,
		VideoPacketsPaused: 18, UnrepairedLosses: 19, RTXReceived: 20, SwitchesFromCache: 21}
	m := New(Sources{
		Hub:   func() signaling.Stats { return hub },
		Media: func() sfu.Stats { return media },
		TURN: func() turn.Stats {
			return turn.Stats{Allocations: 2, RelayedBytes: 4096, RefusedPerIP: 1, RefusedTotal: 2,
				RefusedTCP: 3, RefusedCredentials: 4, PermissionsRefused: 5, DatagramsDropped: 6}
		},
		Access: func() access.Stats { return access.Stats{RateLimited: 7, TrackedIPs: 3, ConnsRefused: 8} },
	})
	want := map[string]float64{
		"tandem_connected_users": 5, "tandem_waiting_users": 1, "tandem_rooms": 2,
		"tandem_matches_total": 9, "tandem_draining": 1, "tandem_plis_sent_total": 3,
		"tandem_nacks_received_total": 4, "tandem_video_switches_total": 2, "tandem_media_peers": 4,
		"tandem_fast_path_packets_total": 25, "tandem_fast_path_packets_sent_total": 26,
		"tandem_downlink_estimates_received_total": 15, "tandem_bitrate_caps_sent_total": 16,
		"tandem_video_pauses_total": 17, "tandem_video_packets_paused_total": 18,
		"tandem_video_losses_unrepaired_total": 19,
		"tandem_turn_allocations":              2, "tandem_turn_relayed_bytes_total": 4096, "tandem_ws_tracked_ips": 3,
		"tandem_http_conns_refused_total": 8, "tandem_video_switches_from_cache_total": 21,
	}
	for name, v := range want {
		if got := gathered(t, m, name, nil); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
	for labels, v := range map[string]float64{"audio": 10, "video": 20} {
		if got := gathered(t, m, "tandem_forwarded_packets_total", map[string]string{"kind": labels}); got != v {
			t.Errorf("forwarded packets %s = %v, want %v", labels, got, v)
		}
	}
	for cause, v := range map[string]float64{"per_ip": 1, "total": 2, "tcp": 3, "credentials": 4, "permission": 5} {
		if got := gathered(t, m, "tandem_turn_refused_total", map[string]string{"cause": cause}); got != v {
			t.Errorf("TURN refused %s = %v, want %v", cause, got, v)
		}
	}
	if got := gathered(t, m, "tandem_turn_datagrams_dropped_total", nil); got != 6 {
		t.Errorf("TURN dropped datagrams = %v, want 6", got)
	}
	for kind, v := range map[string]float64{"candidate": 13, "datagram": 14} {
		if got := gathered(t, m, "tandem_ice_remote_refused_total", map[string]string{"kind": kind}); got != v {
			t.Errorf("refused ICE remotes %s = %v, want %v", kind, got, v)
		}
	}
	for cause, v := range map[string]float64{"duplicate": 11, "over_budget": 12} {
		if got := gathered(t, m, "tandem_retransmissions_refused_total", map[string]string{"cause": cause}); got != v {
			t.Errorf("refused resends %s = %v, want %v", cause, got, v)
		}
	}
	if got := gathered(t, m, "tandem_ws_refused_total", map[string]string{"reason": "rate_limited"}); got != 7 {
		t.Errorf("refused rate_limited = %v, want 7", got)
	}
	hub.ConnectedUsers = 6 // the next scrape sees the change
	if got := gathered(t, m, "tandem_connected_users", nil); got != 6 {
		t.Errorf("after a change: connected users %v, want 6", got)
	}
}

func TestEventsFeedHistogramsAndCounters(t *testing.T) {
	m := New(Sources{})
	if v := gathered(t, m, "tandem_websocket_errors_total", map[string]string{"code": "rate_limited"}); v != 0 {
		t.Errorf("known error codes must be exported at 0 before any error, got %v", v)
	}
	m.Matched(1500*time.Millisecond, 0)
	m.VideoSwitched(250 * time.Millisecond)
	m.ErrorSent("bad_message")
	m.ErrorSent("bad_message")
	m.ErrorSent("draining")
	if n := gathered(t, m, "tandem_wait_seconds", nil); n != 2 {
		t.Errorf("wait histogram count %v, want 2", n)
	}
	if n := gathered(t, m, "tandem_switch_latency_seconds", nil); n != 1 {
		t.Errorf("switch latency count %v, want 1", n)
	}
	// One switch with a PLI, one whose keyframe came before any PLI went out.
	m.SwitchTimeline(sfu.SwitchTimeline{PLISent: time.Millisecond, KeyframeReceived: 30 * time.Millisecond,
		FirstForwarded: 30 * time.Millisecond, KeyframeForwarded: 40 * time.Millisecond})
	m.SwitchTimeline(sfu.SwitchTimeline{PLISent: -1, KeyframeReceived: 5 * time.Millisecond,
		FirstForwarded: 5 * time.Millisecond, KeyframeForwarded: 9 * time.Millisecond})
	for stage, want := range map[string]float64{StagePLISent: 1, StageKeyframeReceived: 2,
		StageFirstForwarded: 2, StageKeyframeForwarded: 2} {
		if n := gathered(t, m, "tandem_switch_stage_seconds", map[string]string{"stage": stage}); n != want {
			t.Errorf("switch stage %s count %v, want %v", stage, n, want)
		}
	}
	if v := testutil.ToFloat64(m.wsErrors.WithLabelValues("bad_message")); v != 2 {
		t.Errorf("bad_message errors %v, want 2", v)
	}
	if v := gathered(t, m, "tandem_websocket_errors_total", map[string]string{"code": "draining"}); v != 1 {
		t.Errorf("draining errors %v, want 1", v)
	}
}

func TestServersKeepSeparateRegistries(t *testing.T) {
	a, b := New(Sources{}), New(Sources{})
	a.ErrorSent("x")
	if v := gathered(t, b, "tandem_websocket_errors_total", map[string]string{"code": "x"}); v != -1 {
		t.Fatalf("b sees a's error counter: %v", v)
	}
}

func TestEverySeriesNamesItsInstance(t *testing.T) {
	m := New(Sources{Instance: "host-1a2b"})
	m.ErrorSent("x")
	if v := gathered(t, m, "tandem_websocket_errors_total", map[string]string{"code": "x", "instance": "host-1a2b"}); v != 1 {
		t.Fatalf("the error counter with the instance label: %v, want 1", v)
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			found := false
			for _, l := range mt.GetLabel() {
				found = found || (l.GetName() == "instance" && l.GetValue() == "host-1a2b")
			}
			if !found {
				t.Fatalf("%s has a series without the instance label: %v", f.GetName(), mt.GetLabel())
			}
		}
	}
}

// gathered returns the value of the named metric with exactly labels (a
// histogram's sample count), or -1 if it is absent.
func gathered(t *testing.T, m *Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, mt := range f.GetMetric() {
			if len(mt.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range mt.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			switch {
			case mt.Gauge != nil:
				return mt.GetGauge().GetValue()
			case mt.Counter != nil:
				return mt.GetCounter().GetValue()
			case mt.Histogram != nil:
				return float64(mt.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}
