package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// collector turns the snapshots of Sources into metrics at scrape time.
// Prometheus may call Collect from several goroutines at once; collector keeps
// no state of its own, so that is safe.
type collector struct {
	src Sources

	connected, waiting, rooms, matches, draining *prometheus.Desc

	packets, bytes, held, plis, keyframeReqs                                                         *prometheus.Desc
	nacks, retransmits, refusedResends, refusedRemotes, switches, mediaPeers, fastPath, fastPathSent *prometheus.Desc
	switchesFromCache                                                                                *prometheus.Desc

	estimates, caps, videoPauses, videoPaused, unrepaired, rtx *prometheus.Desc

	turnAllocations, turnRelayed, turnRefused, turnDropped *prometheus.Desc

	refused, trackedIPs, connsRefused *prometheus.Desc

	reports, bansActive *prometheus.Desc

	bridgeDatagrams *prometheus.Desc
}

func newCollector(src Sources) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
	}
	return &collector{
		src:       src,
		connected: d("connected_users", "WebSocket sessions open now."),
		waiting:   d("waiting_users", "Users waiting in the matchmaking queue now."),
		rooms:     d("rooms", "Rooms (pairs of users talking) open now."),
		matches:   d("matches_total", "Pairs made since start."),
		draining:  d("draining", "1 while the server is draining (no new matches), else 0."),

		packets:      d("forwarded_packets_total", "RTP packets forwarded to clients, by media kind.", "kind"),
		bytes:        d("forwarded_bytes_total", "RTP payload bytes forwarded to clients, by media kind.", "kind"),
		held:         d("video_packets_held_total", "Video packets dropped while a switch waited for the new partner's keyframe."),
		plis:         d("plis_sent_total", "Picture loss indications the SFU sent to clients."),
		keyframeReqs: d("keyframe_requests_received_total", "PLI and FIR packets received from clients."),
		nacks:        d("nacks_received_total", "NACK packets received from clients."),
		retransmits:  d("retransmissions_total", "Packets resent from the SFU's cache in answer to NACKs."),
		refusedResends: d("retransmissions_refused_total",
			"Packets NACKs asked for that the SFU did not resend: duplicate (resent under half the client's round trip before, 100 ms while unknown), over_budget (the receiver's retransmission budget was spent).", "cause"),
		refusedRemotes: d("ice_remote_refused_total",
			"Client ICE addresses in refused ranges (private, loopback, link-local, ... not holding a media address) the SFU ignored: candidate (trickled or in an offer), datagram (a would-be peer-reflexive source).", "kind"),
		fastPath:     d("fast_path_packets_total", "Client RTP and RTCP packets the SFU decrypted on the socket's read goroutine instead of through Pion's receive pipeline."),
		fastPathSent: d("fast_path_packets_sent_total", "RTP packets the SFU encrypted and wrote to the client's socket itself instead of through Pion's send pipeline."),
		switches:     d("video_switches_total", "Completed video source switches (first keyframe of the new source forwarded)."),
		switchesFromCache: d("video_switches_from_cache_total",
			"Video switches that began with the new partner's cached keyframe and the frames after it instead of waiting for a new keyframe."),
		mediaPeers: d("media_peers", "Peers with an open PeerConnection now."),

		estimates:   d("downlink_estimates_received_total", "Downlink estimates (REMB) clients sent about the video the server sends them."),
		caps:        d("bitrate_caps_sent_total", "Bitrate caps (REMB) the server sent senders from their partner's downlink estimate."),
		videoPauses: d("video_pauses_total", "Times video to a client was paused because its downlink estimate fell under media.video_floor_kbps."),
		videoPaused: d("video_packets_paused_total", "Video packets not forwarded because video to their receiver was paused."),
		rtx:         d("rtx_packets_total", "Retransmissions on RTX streams (RFC 4588): received from clients (unwrapped into their video) and sent to them.", "direction"),
		unrepaired:  d("video_losses_unrepaired_total", "Video packets from clients still missing after the SFU's last NACK (each asks the sender for a keyframe, throttled)."),

		turnAllocations: d("turn_allocations", "TURN allocations open now on the embedded TURN server."),
		turnRelayed:     d("turn_relayed_bytes_total", "Bytes relayed by the embedded TURN server since start."),
		turnRefused: d("turn_refused_total",
			"TURN requests refused, by cause: per_ip and total (allocation caps), tcp (RFC 6062 allocations), credentials (of an ended session), permission (a peer that is not a media address).", "cause"),
		turnDropped: d("turn_datagrams_dropped_total",
			"Datagrams a TURN relay did not pass: to or from a port that is not one of tandem's media ports."),

		refused:    d("ws_refused_total", "/ws requests refused, by reason: unauthorized, rate_limited and too_many_sessions before the upgrade; banned after it (error banned, close 1008).", "reason"),
		trackedIPs: d("ws_tracked_ips", "Client IPs (IPv6: /64 prefixes) the per-IP limiter remembers now."),
		connsRefused: d("http_conns_refused_total",
			"TCP connections to the HTTP listeners closed at accept: the client IP (IPv6: /64) held http.conns_per_ip already."),

		reports:    d("reports_total", "Reports users made (report_partner) since start, by reason.", "reason"),
		bansActive: d("bans_active", "Bans in force now: automatic, by an operator, and static from the configuration."),

		bridgeDatagrams: d("bridge_datagrams_total",
			"Cluster mode: datagrams of the media bridge between instances, by outcome: sent, send_failed (the socket refused them), received (opened), dropped (not authentic, replayed, another format version, or cut short).", "outcome"),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.connected, c.waiting, c.rooms, c.matches, c.draining,
		c.packets, c.bytes, c.held, c.plis, c.keyframeReqs, c.nacks, c.retransmits, c.refusedResends, c.refusedRemotes, c.switches, c.switchesFromCache, c.mediaPeers, c.fastPath, c.fastPathSent,
		c.estimates, c.caps, c.videoPauses, c.videoPaused, c.unrepaired, c.rtx,
		c.turnAllocations, c.turnRelayed, c.turnRefused, c.turnDropped, c.refused, c.trackedIPs, c.connsRefused,
		c.reports, c.bansActive, c.bridgeDatagrams,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one snapshot per source.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if c.src.Hub != nil {
		c.collectHub(ch)
	}
	if c.src.Media != nil {
		c.collectMedia(ch)
	}
	if c.src.TURN != nil {
		t := c.src.TURN()
		gauge(ch, c.turnAllocations, float64(t.Allocations))
		counter(ch, c.turnRelayed, float64(t.RelayedBytes))
		counter(ch, c.turnRefused, float64(t.RefusedPerIP), "per_ip")
		counter(ch, c.turnRefused, float64(t.RefusedTotal), "total")
		counter(ch, c.turnRefused, float64(t.RefusedTCP), "tcp")
		counter(ch, c.turnRefused, float64(t.RefusedCredentials), "credentials")
		counter(ch, c.turnRefused, float64(t.PermissionsRefused), "permission")
		counter(ch, c.turnDropped, float64(t.DatagramsDropped))
	}
	if c.src.Moderation != nil {
		m := c.src.Moderation()
		for reason, n := range m.ReportsByReason {
			counter(ch, c.reports, float64(n), reason)
		}
		gauge(ch, c.bansActive, float64(m.BansActive))
	}
	if c.src.Bridge != nil {
		b := c.src.Bridge()
		counter(ch, c.bridgeDatagrams, float64(b.Sent), "sent")
		counter(ch, c.bridgeDatagrams, float64(b.SendFailed), "send_failed")
		counter(ch, c.bridgeDatagrams, float64(b.Received), "received")
		counter(ch, c.bridgeDatagrams, float64(b.Dropped), "dropped")
	}
	if c.src.Access != nil {
		a := c.src.Access()
		counter(ch, c.refused, float64(a.Unauthorized), "unauthorized")
		counter(ch, c.refused, float64(a.RateLimited), "rate_limited")
		counter(ch, c.refused, float64(a.TooManySessions), "too_many_sessions")
		gauge(ch, c.trackedIPs, float64(a.TrackedIPs))
		counter(ch, c.connsRefused, float64(a.ConnsRefused))
	}
}

func (c *collector) collectHub(ch chan<- prometheus.Metric) {
	h := c.src.Hub()
	gauge(ch, c.connected, float64(h.ConnectedUsers))
	gauge(ch, c.waiting, float64(h.WaitingUsers))
	gauge(ch, c.rooms, float64(h.ActiveRooms))
	counter(ch, c.matches, float64(h.TotalMatches))
	counter(ch, c.refused, float64(h.RefusedBanned), "banned")
	draining := 0.0
	if h.Draining {
		draining = 1
	}
	gauge(ch, c.draining, draining)
}

func (c *collector) collectMedia(ch chan<- prometheus.Metric) {
	m := c.src.Media()
	counter(ch, c.packets, float64(m.AudioPacketsForwarded), "audio")
	counter(ch, c.packets, float64(m.VideoPacketsForwarded), "video")
	counter(ch, c.bytes, float64(m.AudioBytesForwarded), "audio")
	counter(ch, c.bytes, float64(m.VideoBytesForwarded), "video")
	counter(ch, c.held, float64(m.VideoPacketsHeld))
	counter(ch, c.plis, float64(m.PLIsSent))
	counter(ch, c.keyframeReqs, float64(m.KeyframeRequestsReceived))
	counter(ch, c.nacks, float64(m.NACKsReceived))
	counter(ch, c.retransmits, float64(m.Retransmissions))
	counter(ch, c.refusedResends, float64(m.RetransmissionsDuplicate), "duplicate")
	counter(ch, c.refusedResends, float64(m.RetransmissionsOverBudget), "over_budget")
	counter(ch, c.refusedRemotes, float64(m.CandidatesRefused), "candidate")
	counter(ch, c.refusedRemotes, float64(m.SourcesRefused), "datagram")
	counter(ch, c.fastPath, float64(m.FastPathPackets))
	counter(ch, c.fastPathSent, float64(m.FastPathPacketsSent))
	counter(ch, c.switches, float64(m.KeyframeSwitches))
	counter(ch, c.estimates, float64(m.REMBsReceived))
	counter(ch, c.caps, float64(m.CapsSent))
	counter(ch, c.videoPauses, float64(m.VideoPauses))
	counter(ch, c.videoPaused, float64(m.VideoPacketsPaused))
	counter(ch, c.unrepaired, float64(m.UnrepairedLosses))
	counter(ch, c.rtx, float64(m.RTXReceived), "received")
	counter(ch, c.rtx, float64(m.RTXSent), "sent")
	counter(ch, c.switchesFromCache, float64(m.SwitchesFromCache))
	gauge(ch, c.mediaPeers, float64(m.Peers))
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}
