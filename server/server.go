// Package server assembles a tandem server from its configuration: the SFU,
// the embedded TURN server, the signaling hub, the HTTP API and the web
// client. It owns the listeners and the order things start and stop in.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tandemchat/tandem/access"
	"github.com/tandemchat/tandem/api"
	"github.com/tandemchat/tandem/cluster"
	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/metrics"
	"github.com/tandemchat/tandem/moderation"
	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/signaling"
	"github.com/tandemchat/tandem/turn"
	"github.com/tandemchat/tandem/web"
)

// Server is a running tandem server.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	media   *sfu.SFU
	turn    *turn.Server // nil when neither embedded nor external TURN is configured
	hub     *signaling.Hub
	mod     *moderation.Moderator // reports, bans, audit log
	cluster *clusterNode          // cluster mode; nil for a single instance
	guard   *access.Guard         // per-IP limits and access tokens on /ws
	metrics *metrics.Metrics      // this server's Prometheus registry
	http    *http.Server
	ln      net.Listener
	url     string

	https    *httpsSetup     // certificates for HTTPS and TURN over TLS
	redirect *redirectServer // plain HTTP redirect and ACME challenges; nil unless ACME

	served    chan error // the HTTP server's result
	closeOnce sync.Once
	closeErr  error
}

// Start builds every part from cfg and starts serving; it returns once the
// listeners are open. On error nothing is left open.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *Server, err error) {
	s := &Server{cfg: cfg, log: log, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			s.closeParts()
		}
	}()
	var instance string // the cluster's name for this process; "" for a single instance
	if cfg.Cluster.Enabled() {
		instance = cluster.NewInstanceID()
	}
	s.metrics = metrics.New(s.metricSources(instance))
	if s.guard, err = access.New(accessConfig(cfg), log.With("component", "access")); err != nil {
		return nil, fmt.Errorf("start access guard: %w", err)
	}
	mc := mediaConfig(cfg)
	mc.OnVideoSwitch = s.metrics.VideoSwitched
	mc.OnSwitchTimeline = s.metrics.SwitchTimeline
	if s.media, err = sfu.New(mc, log.With("component", "sfu")); err != nil {
		return nil, fmt.Errorf("start media: %w", err)
	}
	if s.https, err = newHTTPS(cfg.HTTP, log.With("component", "tls")); err != nil {
		return nil, fmt.Errorf("start https: %w", err)
	}
	if cfg.TURN.Addr != "" || len(cfg.TURN.ExternalURLs) > 0 {
		tc, err := turnConfig(cfg)
		if err != nil {
			return nil, err
		}
		tc.TLSAddr, tc.TLSConfig = cfg.TURN.TLSAddr, s.https.turnConfig()
		if s.turn, err = turn.New(tc, log.With("component", "turn")); err != nil {
			return nil, fmt.Errorf("start turn: %w", err)
		}
	}
	var shared *signaling.ClusterOptions
	var media signaling.Media = sfuMedia{s.media}
	if cfg.Cluster.Enabled() {
		if s.cluster, err = newClusterNode(cfg.Cluster, instance, s.media, log.With("component", "cluster")); err != nil {
			return nil, fmt.Errorf("start cluster: %w", err)
		}
		shared = s.cluster.hubOptions(cfg.Moderation.Retention)
		media = clusterMedia{sfuMedia{s.media}, s.cluster.media}
	}
	if s.mod, err = openModeration(cfg, s.cluster, log.With("component", "moderation")); err != nil {
		return nil, fmt.Errorf("start moderation: %w", err)
	}
	s.hub = signaling.NewHub(signaling.Options{
		Config:         cfg.Signaling,
		AllowedOrigins: cfg.HTTP.AllowedOrigins,
		ICEServers:     s.iceServers,
		SessionEnded:   s.turn.Release, // nil-safe: TURN may be off
		Observer:       s.metrics,
		MediaPerIP:     cfg.Limits.MediaPerIP,
		Moderation:     s.mod,
		Cluster:        shared,
	}, media, log.With("component", "signaling"))
	s.mod.OnBan(func(moderation.Ban) { s.hub.EnforceBans() })
	if s.cluster != nil {
		s.cluster.start(s.hub, s.mod)
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.HTTP.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen http: %w", err)
	}
	s.ln = s.guard.LimitListener(ln)
	if err = s.startRedirect(ctx); err != nil {
		return nil, err
	}
	s.http = s.httpServer(securityHeaders(s.routes(), s.https.enabled()))
	s.http.TLSConfig = s.https.serverConfig()
	s.url = s.https.url(s.ln.Addr())
	if !s.https.enabled() {
		warnIfPlainHTTP(log, s.ln.Addr())
	}
	go func() { s.served <- s.serve() }()
	log.Info("tandem listening", "url", s.url, "turn", cfg.TURN.Addr)
	return s, nil
}

// routes is the one HTTP mux: the WebSocket, the API and the web client.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	var view api.ClusterView
	if s.cluster != nil {
		view = s.cluster
	}
	mux.Handle("GET /ws", s.guard.Wrap(withoutDeadlines(s.hub)))
	api.New(api.Options{
		Hub:         s.hub,
		Media:       s.media,
		TURN:        s.turn,
		AdminToken:  s.cfg.Admin.Token,
		PublicStats: s.cfg.HTTP.PublicStats,
		Metrics:     s.metrics.Handler(),
		Moderation:  s.mod,
		AdminName:   s.cfg.Admin.TokenName,
		Cluster:     view,
		Instance:    s.Instance(),
	}, s.log.With("component", "api")).Register(mux)
	mux.Handle("/", web.Handler())
	return mux
}

// metricSources tells the metrics what to read at scrape time; the parts
// are read through s, since they are built after the metrics.
func (s *Server) metricSources(instance string) metrics.Sources {
	src := metrics.Sources{
		Instance: instance,
		Hub:      func() signaling.Stats { return s.hub.Stats() },
		Media:    func() sfu.Stats { return s.media.Stats() },
		TURN:     func() turn.Stats { return s.turn.Stats() }, // zeros when TURN is off
		Access:   func() access.Stats { return s.guard.Stats() },
		Moderation: func() moderation.Stats {
			if s.mod == nil { // a scrape before start-up finished
				return moderation.Stats{}
			}
			return s.mod.Stats()
		},
	}
	if instance != "" { // cluster mode: the bridge is opened after the metrics
		src.Bridge = func() cluster.BridgeStats {
			if s.cluster == nil {
				return cluster.BridgeStats{}
			}
			return s.cluster.bridge.Stats()
		}
	}
	return src
}

// accessConfig maps the configuration onto the /ws guard's settings.
func accessConfig(cfg config.Config) access.Config {
	return access.Config{
		JWTSecret:            cfg.Auth.JWTSecret,
		JWTAudience:          cfg.Auth.JWTAudience,
		JWTIssuer:            cfg.Auth.JWTIssuer,
		ConnectionsPerMinute: cfg.Limits.ConnectionsPerMinute,
		SessionsPerIP:        cfg.Limits.SessionsPerIP,
		ConnsPerIP:           cfg.EffectiveConnsPerIP(),
		TrustedProxies:       cfg.HTTP.TrustedProxies,
		WithSubject:          signaling.WithIdentity,
		WithRelease:          signaling.WithSessionEnd,
	}
}

// iceServers converts the TURN server's list into the welcome message's.
func (s *Server) iceServers(userID, host string) []signaling.ICEServer {
	if s.turn == nil {
		return nil
	}
	list := s.turn.ICEServers(userID, host)
	out := make([]signaling.ICEServer, len(list))
	for i, e := range list {
		out[i] = signaling.ICEServer(e)
	}
	return out
}

// URL is the base URL of the HTTP listener, e.g. "http://127.0.0.1:3000",
// or "https://tandem.example" with automatic certificates.
func (s *Server) URL() string { return s.url }

// Addr is the HTTP listener's address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Hub is the signaling hub, for tests and embedding programs.
func (s *Server) Hub() *signaling.Hub { return s.hub }

// Moderation holds reports, bans and the audit log, for tests and embedding programs.
func (s *Server) Moderation() *moderation.Moderator { return s.mod }

// Media is the SFU, for tests and embedding programs.
func (s *Server) Media() *sfu.SFU { return s.media }

// Instance is this instance's id in the cluster; "" for a single instance.
func (s *Server) Instance() string {
	if s.cluster == nil {
		return ""
	}
	return s.cluster.id
}

// TURN is the TURN server, nil when TURN is off.
func (s *Server) TURN() *turn.Server { return s.turn }

// Shutdown stops gracefully: /readyz turns 503 and no new matches are made;
// pairs go on until they end or the configured grace period passes (or ctx
// ends), then get partner_left "ended"; then everything closes.
func (s *Server) Shutdown(ctx context.Context) error {
	s.hub.Drain()
	grace := time.NewTimer(s.cfg.HTTP.ShutdownGrace)
	defer grace.Stop()
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for s.hub.Stats().ActiveRooms > 0 {
		select {
		case <-grace.C:
		case <-ctx.Done():
		case <-poll.C:
			continue
		}
		break
	}
	s.hub.EndAllRooms()
	return s.Close()
}

// Close stops at once: every session is closed, then the listeners and the
// media and TURN servers. Safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.hub.Close()
		if s.cluster != nil { // right after the hub told the other instances its rooms ended (closeParts reports its error)
			s.cluster.close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.http.Shutdown(ctx)
		if serveErr := <-s.served; !errors.Is(serveErr, http.ErrServerClosed) {
			err = errors.Join(err, serveErr)
		}
		s.closeErr = errors.Join(err, s.closeParts())
		s.log.Info("tandem stopped")
	})
	return s.closeErr
}

// closeParts closes the media and TURN servers and the cluster node,
// whichever were started.
func (s *Server) closeParts() error {
	var err error
	if s.cluster != nil { // closed already by Close, after the hub
		err = errors.Join(err, s.cluster.close())
	}
	if s.turn != nil {
		err = errors.Join(err, s.turn.Close())
	}
	if s.media != nil {
		err = errors.Join(err, s.media.Close())
	}
	if s.mod != nil {
		err = errors.Join(err, s.mod.Close())
	}
	if s.ln != nil && s.http == nil {
		err = errors.Join(err, s.ln.Close())
	}
	if s.redirect != nil {
		err = errors.Join(err, s.redirect.Close())
	}
	s.https.close()
	return err
}

// urlHost renders a listen address as a host:port a browser can open:
// an unspecified IP becomes localhost.
func urlHost(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		_, port, _ := net.SplitHostPort(addr.String())
		return net.JoinHostPort("localhost", port)
	}
	return tcp.String()
}
