package config

import (
	"strings"
	"testing"
	"time"
)

// TestUnworkableSettingsAreRefusedNamingTheKey checks Validate against
// settings a server would start with but that cannot work.
func TestUnworkableSettingsAreRefusedNamingTheKey(t *testing.T) {
	cases := []struct {
		key  string
		edit func(*Config)
	}{
		{"http.read_header_timeout", func(c *Config) { c.HTTP.ReadHeaderTimeout = 0 }},
		{"http.read_timeout", func(c *Config) { c.HTTP.ReadTimeout = -time.Second }},
		{"http.write_timeout", func(c *Config) { c.HTTP.WriteTimeout = 0 }},
		{"http.idle_timeout", func(c *Config) { c.HTTP.IdleTimeout = 0 }},
		{"http.read_header_timeout", func(c *Config) { c.HTTP.ReadHeaderTimeout = time.Minute }},
		{"http.conns_per_ip", func(c *Config) { c.HTTP.ConnsPerIP = 49 }},
		{"http.conns_per_ip", func(c *Config) { c.HTTP.ConnsPerIP = -1 }},
		{"http.addr", func(c *Config) { c.HTTP.Addr = "3000" }},
		{"http.addr", func(c *Config) { c.HTTP.Addr = ":70000" }},
		{"turn.addr", func(c *Config) { c.TURN.Addr = "localhost" }},
		{"http.redirect_addr", func(c *Config) { c.HTTP.ACMEDomains = []string{"chat.example.org"}; c.HTTP.RedirectAddr = "80" }},
		{"media.udp_ports", func(c *Config) { c.Media.UDPPorts = PortRange{Min: 50100, Max: 50000} }},
		{"media.udp_ports", func(c *Config) { c.Media.UDPPorts = PortRange{Min: 3400, Max: 3500} }},
		{"media.udp_mux_port", func(c *Config) { c.Media.UDPMuxPort = 70000 }},
		{"media.udp_mux_port", func(c *Config) { c.Media.UDPMuxPort = 3478 }},
		{"media.tcp_port", func(c *Config) { c.Media.TCPPort = -1 }},
		{"media.tcp_port", func(c *Config) { c.Media.TCPPort = 3000 }},
		{"media.tcp_port", func(c *Config) { c.Media.TCPPort = 3478 }},
		{"admin.token", func(c *Config) { c.Admin.Token = "short" }},
		{"signaling.chat_messages", func(c *Config) { c.Signaling.ChatMessages = 40 }},
		{"signaling", func(c *Config) { c.Signaling.OffersPerMinute = 0 }},
		{"turn.external_urls", func(c *Config) { c.TURN.ExternalURLs = []string{"turn:turn.example:3478"} }},
		{"turn.allocations_per_ip", func(c *Config) { c.TURN.AllocationsPerIP = -1 }},
		{"limits.media_per_ip", func(c *Config) { c.Limits.MediaPerIP = -1 }},
		{"turn.credential_grace", func(c *Config) { c.TURN.CredentialGrace = time.Hour }},
		{"auth.jwt_secret", func(c *Config) { c.Auth.JWTSecret = "secret" }},
		{"auth.jwt_audience", func(c *Config) { c.Auth.JWTAudience = "tandem" }},
		{"auth.jwt_issuer", func(c *Config) { c.Auth.JWTIssuer = "https://site.example" }},
		{"http.allowed_origins", func(c *Config) { c.HTTP.AllowedOrigins = []string{"site.example"} }},
		{"http.allowed_origins", func(c *Config) { c.HTTP.AllowedOrigins = []string{"https://site.example/chat"} }},
		{"http.allowed_origins", func(c *Config) { c.HTTP.AllowedOrigins = []string{"ftp://site.example"} }},
	}
	for _, tc := range cases {
		c := Default()
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.key) {
			t.Errorf("%s: Validate() = %v, want an error starting with the key", tc.key, err)
		}
	}
}

// TestWorkableNeighboursAreAccepted checks the settings next to the refused
// ones: Validate must not refuse what works.
func TestWorkableNeighboursAreAccepted(t *testing.T) {
	cases := map[string]func(*Config){
		"conns_per_ip equal to sessions_per_ip": func(c *Config) { c.HTTP.ConnsPerIP = 50 },
		"mux port, TURN on another port":        func(c *Config) { c.Media.UDPMuxPort = 3479 },
		"mux port inside the unused range":      func(c *Config) { c.Media.UDPMuxPort = 50050 },
		"range over TURN's port without TURN":   func(c *Config) { c.Media.UDPPorts = PortRange{3400, 3500}; c.TURN.Addr = "" },
		"ICE-TCP on HTTP's port of another IP": func(c *Config) {
			c.HTTP.Addr = "127.0.0.1:3000"
			c.Media.ICEIPs = []string{"10.0.0.2"}
			c.Media.TCPPort = 3000
		},
		"tokens long enough": func(c *Config) {
			c.Admin.Token, c.Auth.JWTSecret = "0123456789ab", "0123456789ab"
			c.Auth.JWTAudience, c.Auth.JWTIssuer = "tandem", "https://site.example"
		},
		"origins": func(c *Config) {
			c.HTTP.AllowedOrigins = []string{"*", "https://site.example/", "http://localhost:8080"}
		},
		"redirect addr ignored without ACME": func(c *Config) { c.HTTP.RedirectAddr = "nonsense" },
	}
	for name, edit := range cases {
		c := Default()
		edit(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	c := Default()
	if got := c.EffectiveConnsPerIP(); got != 116 {
		t.Errorf("default EffectiveConnsPerIP = %d, want twice sessions_per_ip plus 16 (116)", got)
	}
	c.Limits.SessionsPerIP = 1
	if got := c.EffectiveConnsPerIP(); got != 18 {
		t.Errorf("EffectiveConnsPerIP with one session per IP = %d, want 18 (room for a browser's page fetches)", got)
	}
}

// TestHTTPLimitsFromTheEnvironment checks the environment names of the
// HTTP timeouts, the connection cap and the JWT claims.
func TestHTTPLimitsFromTheEnvironment(t *testing.T) {
	cfg, err := Load("", envMap(map[string]string{
		"TANDEM_HTTP_READ_HEADER_TIMEOUT": "2s", "TANDEM_HTTP_READ_TIMEOUT": "3s",
		"TANDEM_HTTP_WRITE_TIMEOUT": "4s", "TANDEM_HTTP_IDLE_TIMEOUT": "5s",
		"TANDEM_HTTP_CONNS_PER_IP": "70", "TANDEM_JWT_SECRET": "a-long-enough-secret",
		"TANDEM_JWT_AUDIENCE": "tandem", "TANDEM_JWT_ISSUER": "https://site.example",
	}))
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.HTTP
	if h.ReadHeaderTimeout != 2*time.Second || h.ReadTimeout != 3*time.Second || h.WriteTimeout != 4*time.Second ||
		h.IdleTimeout != 5*time.Second || cfg.EffectiveConnsPerIP() != 70 ||
		cfg.Auth.JWTAudience != "tandem" || cfg.Auth.JWTIssuer != "https://site.example" {
		t.Fatalf("environment not applied: %+v %+v", h, cfg.Auth)
	}
}
