// Package metrics exposes tandem's state to Prometheus. A Metrics value owns
// its own registry (never the process-wide default one), so several servers
// can run side by side in one process, as tests do.
//
// Two kinds of figures live here. Events that Prometheus must see one by one
// (how long a user waited, how long a partner switch took, which error codes
// were sent) are recorded as they happen through the methods of Metrics,
// which the signaling hub and the SFU call. Everything else (users, rooms,
// forwarded packets, TURN allocations...) is read at scrape time from the
// atomic snapshots the other packages already keep, by a collector: nothing
// Prometheus-specific runs on the media path.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tandemchat/tandem/access"
	"github.com/tandemchat/tandem/cluster"
	"github.com/tandemchat/tandem/moderation"
	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/signaling"
	"github.com/tandemchat/tandem/turn"
)

// namespace prefixes every tandem metric name.
const namespace = "tandem"

// Sources are read at every scrape. Each is optional: a nil source leaves its
// metrics out. They are called from the scraping goroutine and must be safe
// for concurrent use.
type Sources struct {
	Hub    func() signaling.Stats
	Media  func() sfu.Stats
	TURN   func() turn.Stats
	Access func() access.Stats
	// Moderation, when set, gives the reports and bans figures.
	Moderation func() moderation.Stats
	// Bridge, in cluster mode, gives the media bridge's datagram counts.
	Bridge func() cluster.BridgeStats
	// Instance, when set (cluster mode), is the instance's id: every series
	// carries it as the label "instance".
	Instance string
}

// Metrics is the registry and the event metrics of one tandem server. Its
// methods are safe for concurrent use and never block, so they may be called
// with the hub's mutex held or from media goroutines.
type Metrics struct {
	registry      *prometheus.Registry
	waitSeconds   prometheus.Histogram
	switchSeconds prometheus.Histogram
	stageSeconds  *prometheus.HistogramVec
	wsErrors      *prometheus.CounterVec
}

// New builds the registry with tandem's metrics, the Go runtime's and the
// process's (CPU, memory, open files).
func New(src Sources) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		waitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "wait_seconds",
			Help:      "Time each matched user spent in the waiting queue before partner_found (0 for the user who was matched on arrival).",
			Buckets:   []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300},
		}),
		switchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "switch_latency_seconds",
			Help:      "Time from pairing until the new partner's first video keyframe was forwarded to a user.",
			Buckets:   []float64{0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10},
		}),
		stageSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "switch_stage_seconds",
			Help:      "Time from pairing until each step of a video partner switch on the server: pli_sent (the last PLI to the new partner before its keyframe), keyframe_received (the keyframe's first packet arrived), first_forwarded (it was sent on), keyframe_forwarded (the keyframe's last packet was sent on).",
			Buckets:   []float64{0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2},
		}, []string{"stage"}),
		wsErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "websocket_errors_total",
			Help:      "WebSocket `error` messages sent to clients, by error code.",
		}, []string{"code"}),
	}
	for _, code := range knownErrorCodes() {
		m.wsErrors.WithLabelValues(code) // export 0 before the first error, so rate() works
	}
	var reg prometheus.Registerer = m.registry
	if src.Instance != "" {
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"instance": src.Instance}, m.registry)
	}
	reg.MustRegister(
		m.waitSeconds, m.switchSeconds, m.stageSeconds, m.wsErrors,
		newCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// knownErrorCodes are the `error` codes the hub sends; others still get
// their series on first use.
func knownErrorCodes() []string {
	return []string{
		signaling.CodeBadMessage, signaling.CodeUnknownType, signaling.CodeTooLarge,
		signaling.CodeRateLimited, signaling.CodeNotInRoom, signaling.CodeBadSDP,
		signaling.CodeDraining, signaling.CodeAlreadyPaired, signaling.CodeMediaFailed,
		signaling.CodeMediaError, signaling.CodeBanned, signaling.CodeSlowDown,
		signaling.CodeTermsRequired,
	}
}

// Matched records the waiting times of two users just paired. It implements
// signaling.Observer.
func (m *Metrics) Matched(waitedA, waitedB time.Duration) {
	m.waitSeconds.Observe(waitedA.Seconds())
	m.waitSeconds.Observe(waitedB.Seconds())
}

// ErrorSent counts one `error` message by its code. It implements
// signaling.Observer.
func (m *Metrics) ErrorSent(code string) {
	m.wsErrors.WithLabelValues(code).Inc()
}

// VideoSwitched records one partner switch's latency; it fits
// sfu.Config.OnVideoSwitch.
func (m *Metrics) VideoSwitched(latency time.Duration) {
	m.switchSeconds.Observe(latency.Seconds())
}

// Switch stages, the stage label of tandem_switch_stage_seconds.
const (
	StagePLISent           = "pli_sent"
	StageKeyframeReceived  = "keyframe_received"
	StageFirstForwarded    = "first_forwarded"
	StageKeyframeForwarded = "keyframe_forwarded"
)

// SwitchTimeline records the steps of one video partner switch; it fits
// sfu.Config.OnSwitchTimeline. A switch whose keyframe was on its way before
// any PLI went out has no pli_sent observation.
func (m *Metrics) SwitchTimeline(tl sfu.SwitchTimeline) {
	if tl.PLISent >= 0 {
		m.stageSeconds.WithLabelValues(StagePLISent).Observe(tl.PLISent.Seconds())
	}
	m.stageSeconds.WithLabelValues(StageKeyframeReceived).Observe(tl.KeyframeReceived.Seconds())
	m.stageSeconds.WithLabelValues(StageFirstForwarded).Observe(tl.FirstForwarded.Seconds())
	m.stageSeconds.WithLabelValues(StageKeyframeForwarded).Observe(tl.KeyframeForwarded.Seconds())
}

// Registry is the registry behind Handler, for tests and for embedding
// programs that add their own metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the registry in the Prometheus text (or protobuf) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
