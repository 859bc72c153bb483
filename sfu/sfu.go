// Package sfu terminates each browser's media with one Pion PeerConnection and forwards the
// current partner's RTP into the one audio and one video track the server sends to it.
//
// Vocabulary: "up" is client to server (upTrack: a track the client sends us), "down" is server
// to client (downTrack: the track we send the client). A partner switch changes which upTrack
// feeds a downTrack; the downTrack's rewriter keeps its SSRC, sequence numbers and timestamps
// continuous, so the client never renegotiates.
//
// The package knows nothing about rooms or signaling: it is driven through New, NewPeer, the
// Peer methods, Pair and Unpair. Nor does it read or write sockets: the media transport
// (package sfu/transport) does, and hands each peer's decrypted packets to its receiver
// (receiver.go); sfu keeps the forwarding logic.
package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/tandemchat/tandem/sfu/transport"
)

// Config holds the media settings. The zero value of every field means its default.
type Config struct {
	// ICEIPs are the local IPs host candidates are gathered on; empty means all interfaces.
	// If it holds only loopback IPs, loopback candidates are enabled and gathering is
	// restricted to them.
	ICEIPs []string
	// PublicIP is announced instead of the host IPs (NAT 1:1, host candidates); empty = none.
	PublicIP string
	// UDPPortMin and UDPPortMax bound the ephemeral UDP ports ICE uses; 0,0 means any port.
	UDPPortMin uint16
	UDPPortMax uint16
	// UDPMuxPort, when > 0, carries all ICE UDP traffic on this one port (overrides the range).
	UDPMuxPort int
	// TCPPort, when > 0, also accepts ICE over TCP (passive candidates) on this port.
	TCPPort int
	// VideoCodec is "vp8" (default) or "h264". Audio is always Opus. Only this codec set is
	// registered, so any partner's stream fits any client.
	VideoCodec string
	// DisconnectTimeout is how long ICE may stay "disconnected" before the peer counts as
	// failed (default 10s).
	DisconnectTimeout time.Duration
	// KeyframeInterval is the PLI repeat interval while a downTrack waits for a keyframe after
	// a switch, and the minimum spacing of PLIs relayed from receivers (default 300ms).
	KeyframeInterval time.Duration
	// VideoFloor is the downlink estimate, in bits per second, under which the server pauses
	// the video it sends a client (audio goes on) until the estimate recovers (bitrate.go).
	// Zero means DefaultVideoFloor; negative never pauses.
	VideoFloor int64
	// OnVideoSwitch, when set, is told how long each partner switch took from Pair until the
	// new partner's first keyframe was forwarded to the client (the switch latency). It is
	// called once per switch (never per packet) from a media goroutine with no lock held; it
	// must be safe for concurrent use and must not block.
	OnVideoSwitch func(latency time.Duration)
	// OnSwitchTimeline, when set, is given the timeline of each video partner switch (see
	// SwitchTimeline) once the new partner's first keyframe was forwarded whole. Called like
	// OnVideoSwitch: once per switch, from a media goroutine with no lock held; it must be
	// safe for concurrent use and must not block.
	OnSwitchTimeline func(SwitchTimeline)
	// SwitchLowLatency is how long after a partner switch the client is asked (the RTP
	// playout-delay extension at min=max=0, playoutdelay.go) to show the new partner's video
	// as soon as each frame is decoded instead of through its jitter buffer; after it the
	// client's own jitter buffer is restored. 0 means the default (1s); negative turns it off.
	SwitchLowLatency time.Duration
	// SwitchFromCache makes a client's video, while it waits for a partner, kept from its
	// latest keyframe on (a keyframe is asked for every half second), so that a new partner is
	// shown that group at once instead of waiting for a new keyframe (gopcache.go).
	SwitchFromCache bool
}

// Defaults used for zero Config fields; the configuration's defaults are these.
const (
	DefaultVideoCodec        = "vp8"
	DefaultDisconnectTimeout = 10 * time.Second
	DefaultKeyframeInterval  = 300 * time.Millisecond
	DefaultVideoFloor        = 100_000
	DefaultSwitchLowLatency  = time.Second
)

// CheckVideoCodec says why name is not a video codec the SFU can use (vp8 or h264), or
// returns nil. The configuration's check is this one.
func CheckVideoCodec(name string) error {
	if name != "vp8" && name != "h264" {
		return fmt.Errorf("video codec %q: want vp8 or h264", name)
	}
	return nil
}

// withDefaults returns cfg with zero fields replaced by defaults, or an error for values that
// cannot work.
func (cfg Config) withDefaults() (Config, error) {
	cfg.VideoCodec = strings.ToLower(strings.TrimSpace(cfg.VideoCodec))
	if cfg.VideoCodec == "" {
		cfg.VideoCodec = DefaultVideoCodec
	}
	if err := CheckVideoCodec(cfg.VideoCodec); err != nil {
		return cfg, err
	}
	if cfg.DisconnectTimeout <= 0 {
		cfg.DisconnectTimeout = DefaultDisconnectTimeout
	}
	if cfg.KeyframeInterval <= 0 {
		cfg.KeyframeInterval = DefaultKeyframeInterval
	}
	if cfg.VideoFloor == 0 {
		cfg.VideoFloor = DefaultVideoFloor
	}
	if cfg.SwitchLowLatency == 0 {
		cfg.SwitchLowLatency = DefaultSwitchLowLatency
	}
	if cfg.UDPPortMin > cfg.UDPPortMax {
		return cfg, fmt.Errorf("udp port range %d-%d: min above max", cfg.UDPPortMin, cfg.UDPPortMax)
	}
	for _, s := range cfg.ICEIPs {
		if net.ParseIP(s) == nil {
			return cfg, fmt.Errorf("ice ip %q: not an IP address", s)
		}
	}
	if cfg.PublicIP != "" && net.ParseIP(cfg.PublicIP) == nil {
		return cfg, fmt.Errorf("public ip %q: not an IP address", cfg.PublicIP)
	}
	return cfg, nil
}

// SFU is the process-wide media engine: the configured webrtc.API, the shared mux sockets and
// the process-wide counters. It is safe for concurrent use.
type SFU struct {
	cfg   Config
	log   *slog.Logger
	codec codecSet

	// What every peer's webrtc.API is built from (peerAPI).
	settings webrtc.SettingEngine
	media    *webrtc.MediaEngine
	registry *interceptor.Registry

	udpMux ice.UDPMux
	tcpMux ice.TCPMux

	// transport owns the sockets and both SRTP directions (sfu/transport).
	transport *transport.Transport
	// remotes judges the addresses clients name in ICE candidates (remotefilter.go).
	remotes *remoteFilter

	// pairMu serialises Pair and Unpair so two peers' partner fields always agree.
	pairMu sync.Mutex

	counters counters

	closeOnce sync.Once
	closeErr  error
}

// New builds the webrtc.API (codecs, interceptors, network settings with mDNS disabled) and
// opens the muxed UDP/TCP sockets if the Config asks for them. Close releases those sockets.
func New(cfg Config, log *slog.Logger) (*SFU, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("sfu config: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &SFU{cfg: cfg, log: log, codec: newCodecSet(cfg.VideoCodec)}
	s.remotes = newRemoteFilter(mediaAddrs(cfg))
	s.transport, err = transport.New(transport.Config{Log: log, RefusesSource: s.refusesSource})
	if err != nil {
		return nil, fmt.Errorf("media transport: %w", err)
	}
	if s.settings, err = s.settingEngine(); err != nil {
		s.closeSockets()
		return nil, err
	}
	if s.media, s.registry, err = s.mediaEngine(); err != nil {
		s.closeSockets()
		return nil, err
	}
	return s, nil
}

// peerAPI builds the webrtc.API of one PeerConnection: the shared settings, codecs and
// interceptors, plus the hooks of the connection's transport (Conn.Configure).
func (s *SFU) peerAPI(conn *transport.Conn) (*webrtc.API, error) {
	settings := s.settings // a copy: the hooks belong to this connection only
	if err := conn.Configure(&settings, s.udpMux, s.tcpMux); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(
		webrtc.WithSettingEngine(settings),
		webrtc.WithMediaEngine(s.media),
		webrtc.WithInterceptorRegistry(s.registry),
	), nil
}

// Close closes the muxed sockets and stops the transport's pollers. Peers are closed by their owners,
// before. Idempotent.
func (s *SFU) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.closeSockets() })
	return s.closeErr
}

func (s *SFU) closeSockets() error {
	var errs []error
	if s.udpMux != nil {
		if err := s.udpMux.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close udp mux: %w", err))
		}
	}
	if s.tcpMux != nil {
		if err := s.tcpMux.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close tcp mux: %w", err))
		}
	}
	if err := s.transport.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Stats returns a snapshot of the process-wide counters. Safe for concurrent use.
func (s *SFU) Stats() Stats {
	st := s.counters.snapshot()
	ts := s.transport.Stats()
	st.FastPathPackets, st.FastPathPacketsSent = ts.PacketsDecrypted, ts.PacketsSent
	return st
}
