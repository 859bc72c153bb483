package metrics_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/livetest"
	"github.com/tandemchat/tandem/sfu/synth"
)

// scrape reads /metrics (with token, if not empty) and parses it.
func scrape(t *testing.T, srv *livetest.Server, token string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := srv.Do(t, "GET", "/metrics", token)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value is the named metric with labels given as name=value pairs (a
// histogram's sample count); -1 if absent.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		for i, l := range m.GetLabel() {
			if labels[2*i] != l.GetName() || labels[2*i+1] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

func TestMetricsMoveWithUsersRoomsAndErrors(t *testing.T) {
	srv := livetest.Start(t, func(c *config.Config) { c.Limits.SessionsPerIP = 2 })
	before := scrape(t, srv, "")
	for name, want := range map[string]float64{
		"tandem_connected_users": 0, "tandem_rooms": 0, "tandem_matches_total": 0, "tandem_wait_seconds": 0,
		"tandem_forwarded_packets_total": -1, // present only with a kind label
	} {
		if got := value(before, name); got != want {
			t.Errorf("before: %s = %v, want %v", name, got, want)
		}
	}
	if got := value(before, "tandem_forwarded_packets_total", "kind", "video"); got != 0 {
		t.Errorf("before: video packets %v, want 0", got)
	}
	for _, name := range []string{"tandem_switch_latency_seconds", "tandem_turn_allocations", "go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := before[name]; !ok {
			t.Errorf("metric %s missing", name)
		}
	}

	a, b := livetest.MustDial(t, srv.WSURL), livetest.MustDial(t, srv.WSURL)
	a.Send("find_partner", nil)
	a.Expect("waiting_for_partner")
	if got := value(scrape(t, srv, ""), "tandem_waiting_users"); got != 1 {
		t.Errorf("waiting users %v, want 1", got)
	}
	b.Send("find_partner", nil)
	a.ExpectUntil("partner_found")
	b.ExpectUntil("partner_found")
	a.Send("no_such_type", nil)
	a.Expect("error")
	if _, resp, err := livetest.Dial(t, srv.WSURL, nil); err == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third session from one IP: %v, want 429", err)
	}

	after := scrape(t, srv, "")
	for name, want := range map[string]float64{
		"tandem_connected_users": 2, "tandem_waiting_users": 0, "tandem_rooms": 1, "tandem_matches_total": 1,
		"tandem_wait_seconds": 2, "tandem_draining": 0,
	} {
		if got := value(after, name); got != want {
			t.Errorf("after: %s = %v, want %v", name, got, want)
		}
	}
	if got := value(after, "tandem_websocket_errors_total", "code", "unknown_type"); got != 1 {
		t.Errorf("unknown_type errors %v, want 1", got)
	}
	if got := value(after, "tandem_ws_refused_total", "reason", "too_many_sessions"); got != 1 {
		t.Errorf("refused too_many_sessions %v, want 1", got)
	}
}

func TestMetricsNeedTheAdminTokenUnlessStatsArePublic(t *testing.T) {
	srv := livetest.Start(t, func(c *config.Config) {
		c.HTTP.PublicStats = false
		c.Admin.Token = "metrics-token"
	})
	if code, _ := srv.Do(t, "GET", "/metrics", ""); code != http.StatusUnauthorized {
		t.Fatalf("/metrics without a token: %d, want 401", code)
	}
	if got := value(scrape(t, srv, "metrics-token"), "tandem_connected_users"); got != 0 {
		t.Fatalf("/metrics with the token: connected users %v", got)
	}
}

func newMediaUser(t *testing.T, srv *livetest.Server, source uint32) *livetest.MediaUser {
	t.Helper()
	u := livetest.NewMediaUser(t, srv, synth.Options{Source: source, Send: true, VideoBitrate: 200_000, FPS: 15})
	u.Offer(t)
	return u
}

func TestMediaMetricsCountForwardedPacketsAndSwitchLatency(t *testing.T) {
	srv := livetest.Start(t, nil)
	a, b := newMediaUser(t, srv, 1), newMediaUser(t, srv, 2)
	a.WS.Send("find_partner", nil)
	b.WS.Send("find_partner", nil)
	a.WaitFor(t, "partner_found")
	b.WaitFor(t, "partner_found")

	deadline := time.Now().Add(livetest.WaitFor)
	for {
		fams := scrape(t, srv, "")
		video := value(fams, "tandem_forwarded_packets_total", "kind", "video")
		audio := value(fams, "tandem_forwarded_bytes_total", "kind", "audio")
		switches := value(fams, "tandem_switch_latency_seconds")
		keyframes := value(fams, "tandem_switch_stage_seconds", "stage", "keyframe_forwarded")
		if video > 0 && audio > 0 && switches >= 2 && keyframes >= 2 {
			if peers := value(fams, "tandem_media_peers"); peers != 2 {
				t.Errorf("media peers %v, want 2", peers)
			}
			if n := value(fams, "tandem_video_switches_total"); n < 2 {
				t.Errorf("video switches %v, want at least 2", n)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("media metrics did not move: video packets %v, audio bytes %v, switch latencies %v, keyframes forwarded %v",
				video, audio, switches, keyframes)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
