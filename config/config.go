// Package config holds tandem's one configuration struct, its defaults, and
// how a YAML file and environment variables override them.
//
// Precedence, lowest first: Default(), the YAML file named by TANDEM_CONFIG
// (or -config), then environment variables. Every field has a YAML key and an
// environment variable; the names listed in docs/protocol.md are stable.
package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/tandemchat/tandem/cluster"
	"github.com/tandemchat/tandem/moderation"
	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/signaling"
)

// Config is the whole configuration of a tandem server. The zero value is not
// useful; start from Default.
type Config struct {
	HTTP       HTTP             `yaml:"http"`
	Log        Log              `yaml:"log"`
	Signaling  signaling.Config `yaml:"signaling"`
	Media      Media            `yaml:"media"`
	TURN       TURN             `yaml:"turn"`
	Admin      Admin            `yaml:"admin"`
	Auth       Auth             `yaml:"auth"`
	Limits     Limits           `yaml:"limits"`
	Moderation Moderation       `yaml:"moderation"`
	Cluster    cluster.Config   `yaml:"cluster"`
}

// HTTP configures the listener that serves the web page, /ws and the API.
type HTTP struct {
	// Addr is the HTTP(S) and WebSocket listen address.
	Addr string `yaml:"addr" env:"TANDEM_HTTP_ADDR"`
	// AllowedOrigins lists extra browser origins (scheme://host[:port]) that
	// may open /ws; the page's own host is always allowed; "*" allows any.
	AllowedOrigins []string `yaml:"allowed_origins" env:"TANDEM_ALLOWED_ORIGINS"`
	// TLSCert and TLSKey are PEM files; when both are set the listener serves HTTPS.
	TLSCert string `yaml:"tls_cert" env:"TANDEM_TLS_CERT"`
	TLSKey  string `yaml:"tls_key" env:"TANDEM_TLS_KEY"`
	// ACMEDomains turns on automatic certificates for these names.
	ACMEDomains []string `yaml:"acme_domains" env:"TANDEM_ACME_DOMAINS"`
	// ACMEEmail is the contact address given to the certificate authority.
	ACMEEmail string `yaml:"acme_email" env:"TANDEM_ACME_EMAIL"`
	// ACMEDirectory is the ACME directory URL (production Let's Encrypt when empty).
	ACMEDirectory string `yaml:"acme_directory" env:"TANDEM_ACME_DIRECTORY"`
	// ACMECacheDir keeps issued certificates across restarts.
	ACMECacheDir string `yaml:"acme_cache_dir" env:"TANDEM_ACME_CACHE_DIR"`
	// ACMECAFile is a PEM file of extra CA certificates to trust when talking
	// to the ACME directory (a private CA or a test server); empty = system roots only.
	ACMECAFile string `yaml:"acme_ca_file" env:"TANDEM_ACME_CA_FILE"`
	// RedirectAddr serves plain HTTP that answers ACME challenges and
	// redirects to HTTPS; used only with ACME.
	RedirectAddr string `yaml:"redirect_addr" env:"TANDEM_REDIRECT_ADDR"`
	// ShutdownGrace is how long existing pairs may go on after a shutdown
	// signal before they are ended.
	ShutdownGrace time.Duration `yaml:"shutdown_grace" env:"TANDEM_SHUTDOWN_GRACE"`
	// PublicStats makes /api/stats, /api/rooms and /metrics readable without the admin token.
	PublicStats bool `yaml:"public_stats" env:"TANDEM_PUBLIC_STATS"`
	// TrustedProxies are reverse proxies (IPs or CIDR prefixes) whose
	// X-Forwarded-For names the real client for per-IP limits and logs.
	TrustedProxies []string `yaml:"trusted_proxies" env:"TANDEM_TRUSTED_PROXIES"`
	// ReadHeaderTimeout is how long a client may take to send a request's headers.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout" env:"TANDEM_HTTP_READ_HEADER_TIMEOUT"`
	// ReadTimeout is how long a client may take to send a whole request, body included.
	ReadTimeout time.Duration `yaml:"read_timeout" env:"TANDEM_HTTP_READ_TIMEOUT"`
	// WriteTimeout bounds the answer to one request (not the WebSocket on
	// /ws, whose writes signaling.write_timeout bounds).
	WriteTimeout time.Duration `yaml:"write_timeout" env:"TANDEM_HTTP_WRITE_TIMEOUT"`
	// IdleTimeout closes a keep-alive connection that sent no request for this long.
	IdleTimeout time.Duration `yaml:"idle_timeout" env:"TANDEM_HTTP_IDLE_TIMEOUT"`
	// ConnsPerIP is how many TCP connections (WebSockets included) one
	// client IP may hold open on the HTTP listeners; 0 means twice
	// limits.sessions_per_ip plus connBrowserHeadroom. Connections from
	// trusted proxies are not capped.
	ConnsPerIP int `yaml:"conns_per_ip" env:"TANDEM_HTTP_CONNS_PER_IP"`
}

// connBrowserHeadroom is the connections a browser opens besides its
// WebSocket while it loads the page (Chromium fetches over up to six at
// once); the default http.conns_per_ip leaves room for them on top of the
// sessions.
const connBrowserHeadroom = 16

// EffectiveConnsPerIP is http.conns_per_ip, or when it is 0 twice
// limits.sessions_per_ip plus room for a browser's page fetches.
func (c *Config) EffectiveConnsPerIP() int {
	if c.HTTP.ConnsPerIP == 0 {
		return 2*c.Limits.SessionsPerIP + connBrowserHeadroom
	}
	return c.HTTP.ConnsPerIP
}

// Log configures structured logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level" env:"TANDEM_LOG_LEVEL"`
	// Format is text or json.
	Format string `yaml:"format" env:"TANDEM_LOG_FORMAT"`
}

// Media configures the SFU's ICE transport and codecs.
type Media struct {
	// ICEIPs are the local IPs to gather host candidates on; empty means all.
	ICEIPs []string `yaml:"ice_ips" env:"TANDEM_ICE_IPS"`
	// PublicIP is announced to browsers for media and TURN relays (NAT 1:1).
	PublicIP string `yaml:"public_ip" env:"TANDEM_PUBLIC_IP"`
	// UDPPorts is the media UDP port range.
	UDPPorts PortRange `yaml:"udp_ports" env:"TANDEM_UDP_PORTS"`
	// UDPMuxPort, when not 0, carries all media on this one UDP port instead of the range.
	UDPMuxPort int `yaml:"udp_mux_port" env:"TANDEM_UDP_MUX_PORT"`
	// TCPPort, when not 0, accepts ICE over TCP on this port.
	TCPPort int `yaml:"tcp_port" env:"TANDEM_ICE_TCP_PORT"`
	// VideoCodec is vp8 or h264; every client must offer it.
	VideoCodec string `yaml:"video_codec" env:"TANDEM_VIDEO_CODEC"`
	// DisconnectTimeout ends a pair whose media stayed disconnected this long.
	DisconnectTimeout time.Duration `yaml:"disconnect_timeout" env:"TANDEM_DISCONNECT_TIMEOUT"`
	// VideoFloorKbps pauses the video sent to a client whose downlink estimate falls under
	// it (audio goes on) until it recovers; 0 never pauses.
	VideoFloorKbps int `yaml:"video_floor_kbps" env:"TANDEM_VIDEO_FLOOR_KBPS"`
	// SwitchLowLatency is how long after a partner switch browsers are asked to show the new
	// partner's video without jitter buffering (sfu.Config.SwitchLowLatency); 0 turns it off.
	SwitchLowLatency time.Duration `yaml:"switch_low_latency" env:"TANDEM_SWITCH_LOW_LATENCY"`
	// SwitchFromCache keeps a waiting user's video from its latest keyframe on, so a new
	// partner sees it at once (sfu.Config.SwitchFromCache); off by default.
	SwitchFromCache bool `yaml:"switch_from_cache" env:"TANDEM_SWITCH_FROM_CACHE"`
}

// TURN configures the embedded TURN server and the credentials handed to browsers.
type TURN struct {
	// Addr is the TURN listen address for UDP and TCP; empty disables the embedded server.
	Addr string `yaml:"addr" env:"TANDEM_TURN_ADDR"`
	// TLSAddr is the TURN-over-TLS listen address; it uses the HTTP certificate.
	TLSAddr string `yaml:"tls_addr" env:"TANDEM_TURN_TLS_ADDR"`
	// Secret signs short-lived credentials; random at start when empty.
	Secret string `yaml:"secret" env:"TANDEM_TURN_SECRET"`
	// CredentialTTL is how long a user's TURN credentials stay valid.
	CredentialTTL time.Duration `yaml:"credential_ttl" env:"TANDEM_TURN_CREDENTIAL_TTL"`
	// RelayPorts is the relay port range; empty means any port.
	RelayPorts PortRange `yaml:"relay_ports" env:"TANDEM_TURN_RELAY_PORTS"`
	// AllowLoopback lets TURN relay to loopback peers (local testing only).
	AllowLoopback bool `yaml:"allow_loopback" env:"TANDEM_TURN_ALLOW_LOOPBACK"`
	// MaxAllocationsPerUser caps concurrent allocations per credential.
	MaxAllocationsPerUser int `yaml:"max_allocations_per_user" env:"TANDEM_TURN_MAX_ALLOCATIONS"`
	// AllocationsPerIP caps concurrent allocations per client IP (IPv6: /64); 0 means a
	// quarter of relay_ports, between 3 and 12 (12 when relay_ports is empty).
	AllocationsPerIP int `yaml:"allocations_per_ip" env:"TANDEM_TURN_ALLOCATIONS_PER_IP"`
	// AllocationsTotal caps concurrent allocations in total; 0 means the number of relay
	// ports (10000 when relay_ports is empty).
	AllocationsTotal int `yaml:"allocations_total" env:"TANDEM_TURN_ALLOCATIONS_TOTAL"`
	// CredentialGrace is how long a session's TURN credentials keep working after the session
	// ended; then its allocations are closed.
	CredentialGrace time.Duration `yaml:"credential_grace" env:"TANDEM_TURN_CREDENTIAL_GRACE"`
	// ExternalURLs point browsers at an external TURN server (e.g. coturn with
	// use-auth-secret and the same Secret) instead of the embedded one.
	ExternalURLs []string `yaml:"external_urls" env:"TANDEM_TURN_URLS"`
}

// Admin configures the admin REST operations.
type Admin struct {
	// Token is the bearer token for admin operations; empty disables them.
	Token string `yaml:"token" env:"TANDEM_ADMIN_TOKEN"`
	// TokenName is who the audit log names for actions taken with Token.
	TokenName string `yaml:"token_name" env:"TANDEM_ADMIN_TOKEN_NAME"`
}

// Moderation configures reports, bans, the audit log and the low-trust pool.
type Moderation struct {
	// DataDir holds the embedded store of reports, bans and the audit log
	// (created if missing).
	DataDir string `yaml:"data_dir" env:"TANDEM_DATA_DIR"`
	// ReportThreshold is how many distinct reporters (one per IP) within
	// ReportWindow get a client banned automatically; 0 turns automatic bans off.
	ReportThreshold int `yaml:"report_threshold" env:"TANDEM_REPORT_THRESHOLD"`
	// ReportWindow is how far back reports count toward ReportThreshold.
	ReportWindow time.Duration `yaml:"report_window" env:"TANDEM_REPORT_WINDOW"`
	// BanDuration is how long a first automatic ban lasts.
	BanDuration time.Duration `yaml:"ban_duration" env:"TANDEM_BAN_DURATION"`
	// BanEscalation multiplies each further automatic ban of the same client.
	BanEscalation int `yaml:"ban_escalation" env:"TANDEM_BAN_ESCALATION"`
	// BanMax caps the duration of an automatic ban.
	BanMax time.Duration `yaml:"ban_max" env:"TANDEM_BAN_MAX"`
	// Retention is how long reports are kept.
	Retention time.Duration `yaml:"retention" env:"TANDEM_REPORT_RETENTION"`
	// IPHashKey, when set, makes reports keep an HMAC of client IPs instead of the IPs.
	IPHashKey string `yaml:"ip_hash_key" env:"TANDEM_IP_HASH_KEY"`
	// Bans are IPs and CIDR prefixes refused for as long as they are listed here.
	Bans []string `yaml:"bans" env:"TANDEM_BANS"`
	// LowTrustPercent, above 0, pairs a client reported in at least this percentage of its
	// calls (and at least LowTrustMinReports times) only with others like it.
	LowTrustPercent int `yaml:"low_trust_percent" env:"TANDEM_LOW_TRUST_PERCENT"`
	// LowTrustMinReports is the fewest reports received before the low-trust pool.
	LowTrustMinReports int `yaml:"low_trust_min_reports" env:"TANDEM_LOW_TRUST_MIN_REPORTS"`
}

// Auth configures optional access tokens for /ws.
type Auth struct {
	// JWTSecret, when set, requires an HS256 token signed with it on /ws.
	JWTSecret string `yaml:"jwt_secret" env:"TANDEM_JWT_SECRET"`
	// JWTAudience, when set, requires the token's aud claim to include it.
	JWTAudience string `yaml:"jwt_audience" env:"TANDEM_JWT_AUDIENCE"`
	// JWTIssuer, when set, requires the token's iss claim to equal it.
	JWTIssuer string `yaml:"jwt_issuer" env:"TANDEM_JWT_ISSUER"`
}

// Limits configures per-IP limits on WebSocket sessions.
type Limits struct {
	// ConnectionsPerMinute is how many new WebSocket connections one IP may open a minute.
	ConnectionsPerMinute int `yaml:"connections_per_minute" env:"TANDEM_CONNECTIONS_PER_MINUTE"`
	// SessionsPerIP is how many sessions one IP may hold at once.
	SessionsPerIP int `yaml:"sessions_per_ip" env:"TANDEM_SESSIONS_PER_IP"`
	// MediaPerIP is how many sessions of one IP (IPv6: /64) may hold a PeerConnection at
	// once; 0 means no cap.
	MediaPerIP int `yaml:"media_per_ip" env:"TANDEM_MEDIA_PER_IP"`
}

// Default returns the built-in configuration: everything tandem needs to run
// on one machine without a config file.
func Default() Config {
	return Config{
		HTTP: HTTP{
			Addr:          ":3000",
			ACMECacheDir:  "tandem-certs",
			RedirectAddr:  ":80",
			ShutdownGrace: 10 * time.Second,
			PublicStats:   true,

			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
		},
		Log:       Log{Level: "info", Format: "text"},
		Signaling: signaling.DefaultConfig(),
		Media: Media{
			UDPPorts:          PortRange{Min: 50000, Max: 50100},
			VideoCodec:        sfu.DefaultVideoCodec,
			DisconnectTimeout: sfu.DefaultDisconnectTimeout,
			VideoFloorKbps:    sfu.DefaultVideoFloor / 1000,
			SwitchLowLatency:  sfu.DefaultSwitchLowLatency,
		},
		TURN: TURN{
			Addr:                  ":3478",
			CredentialTTL:         6 * time.Hour,
			MaxAllocationsPerUser: 10,
			CredentialGrace:       10 * time.Second,
		},
		Admin: Admin{TokenName: "admin"},
		Limits: Limits{
			ConnectionsPerMinute: 120,
			SessionsPerIP:        50,
			MediaPerIP:           20,
		},
		Moderation: moderationDefaults(moderation.DefaultConfig()),
		Cluster:    cluster.DefaultConfig(),
	}
}

// moderationDefaults is the moderation section with the moderation package's defaults.
func moderationDefaults(d moderation.Config) Moderation {
	return Moderation{
		DataDir: d.DataDir, ReportThreshold: d.ReportThreshold, ReportWindow: d.ReportWindow,
		BanDuration: d.BanDuration, BanEscalation: d.BanEscalation, BanMax: d.BanMax,
		Retention: d.Retention, LowTrustPercent: d.LowTrustPercent, LowTrustMinReports: d.LowTrustMinReports,
	}
}

// Validate reports the first setting that cannot work, naming it.
func (c *Config) Validate() error {
	if c.HTTP.Addr == "" {
		return fmt.Errorf("http.addr: must not be empty")
	}
	if (c.HTTP.TLSCert == "") != (c.HTTP.TLSKey == "") {
		return fmt.Errorf("http.tls_cert and http.tls_key: set both or neither")
	}
	if len(c.HTTP.ACMEDomains) > 0 && c.HTTP.TLSCert != "" {
		return fmt.Errorf("http.acme_domains: cannot be combined with http.tls_cert")
	}
	if len(c.HTTP.ACMEDomains) > 0 && c.HTTP.ACMECacheDir == "" {
		return fmt.Errorf("http.acme_cache_dir: must be set with http.acme_domains, or every start asks for a new certificate")
	}
	for _, d := range c.HTTP.ACMEDomains {
		if net.ParseIP(d) != nil || !strings.Contains(strings.Trim(d, "."), ".") || strings.ContainsAny(d, "*/: ") {
			return fmt.Errorf("http.acme_domains: %q is not a domain name like chat.example.org", d)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log.format: %q is not text or json", c.Log.Format)
	}
	if err := c.Signaling.Validate(); err != nil {
		return err
	}
	if c.HTTP.ShutdownGrace < 0 {
		return fmt.Errorf("http.shutdown_grace: must not be negative")
	}
	for _, ip := range c.Media.ICEIPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("media.ice_ips: %q is not an IP address", ip)
		}
	}
	if c.Media.PublicIP != "" && net.ParseIP(c.Media.PublicIP) == nil {
		return fmt.Errorf("media.public_ip: %q is not an IP address", c.Media.PublicIP)
	}
	if c.Media.UDPPorts.IsZero() && c.Media.UDPMuxPort == 0 {
		return fmt.Errorf("media.udp_ports: set a range or media.udp_mux_port")
	}
	if c.Media.VideoFloorKbps < 0 {
		return fmt.Errorf("media.video_floor_kbps: %d is negative (0 never pauses video)", c.Media.VideoFloorKbps)
	}
	if err := sfu.CheckVideoCodec(c.Media.VideoCodec); err != nil {
		return fmt.Errorf("media.video_codec: %w", err)
	}
	if len(c.TURN.ExternalURLs) > 0 && c.TURN.Secret == "" {
		return fmt.Errorf("turn.external_urls: needs turn.secret, the secret the external TURN server shares (a random one could never match)")
	}
	if c.TURN.AllocationsPerIP < 0 || c.TURN.AllocationsTotal < 0 {
		return fmt.Errorf("turn.allocations_per_ip, turn.allocations_total: must not be negative (0 means derived from turn.relay_ports)")
	}
	if c.TURN.CredentialGrace < 0 || c.TURN.CredentialGrace > 10*time.Minute {
		return fmt.Errorf("turn.credential_grace: must be between 0 and 10m")
	}
	if c.TURN.CredentialTTL < time.Minute {
		return fmt.Errorf("turn.credential_ttl: must be at least a minute")
	}
	if c.TURN.TLSAddr != "" && c.HTTP.TLSCert == "" && len(c.HTTP.ACMEDomains) == 0 {
		return fmt.Errorf("turn.tls_addr: needs a certificate (http.tls_cert or http.acme_domains)")
	}
	for _, p := range c.HTTP.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			return fmt.Errorf("http.trusted_proxies: %q is not an IP address or CIDR prefix", p)
		}
	}
	if c.Limits.ConnectionsPerMinute < 1 || c.Limits.SessionsPerIP < 1 {
		return fmt.Errorf("limits: connections_per_minute and sessions_per_ip must be at least 1")
	}
	if c.Limits.MediaPerIP < 0 {
		return fmt.Errorf("limits.media_per_ip: must not be negative (0 means no cap)")
	}
	if err := c.Moderation.validate(); err != nil {
		return err
	}
	if err := c.Cluster.Validate(); err != nil {
		return err
	}
	if err := c.validateHTTPLimits(); err != nil {
		return err
	}
	return c.validateStartup()
}

// PortRange is an inclusive range of ports, written "MIN-MAX". The zero
// value means "no range".
type PortRange struct {
	Min, Max uint16
}

// IsZero reports whether no range is set.
func (r PortRange) IsZero() bool { return r.Min == 0 && r.Max == 0 }

// String formats the range as "MIN-MAX", or "" when unset.
func (r PortRange) String() string {
	if r.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

// MarshalText implements encoding.TextMarshaler.
func (r PortRange) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText parses "MIN-MAX" (or "" for no range).
func (r *PortRange) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "" {
		*r = PortRange{}
		return nil
	}
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return fmt.Errorf("port range %q: want MIN-MAX", s)
	}
	min, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	max, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err1 != nil || err2 != nil || min == 0 || min > max {
		return fmt.Errorf("port range %q: want MIN-MAX with 1 <= MIN <= MAX <= 65535", s)
	}
	*r = PortRange{Min: uint16(min), Max: uint16(max)}
	return nil
}
