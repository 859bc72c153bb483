package turn

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// Default values applied by New to zero fields of Config.
const (
	DefaultRealm                 = "tandem"
	DefaultCredentialTTL         = 6 * time.Hour
	DefaultMaxAllocationsPerUser = 10
	DefaultCredentialGrace       = 10 * time.Second
	// DefaultAllocationsPerIP is the per-client-IP cap when the relay port range is wide
	// enough: four browser sessions behind one address, each with a UDP, a TCP and a TLS
	// allocation. A narrower range gets a quarter of its ports per IP (at least 3).
	DefaultAllocationsPerIP = 12
	// defaultMaxAllocationsAnyPort caps allocations in total when relay ports are not bounded.
	defaultMaxAllocationsAnyPort = 10000
)

// Config configures the embedded TURN server and the credentials handed to
// clients. The zero value of every field except Addr has a sensible default;
// New copies the Config, so changing it afterwards has no effect.
type Config struct {
	// Addr is the UDP and TCP listen address, e.g. ":3478". "" disables the
	// embedded server; ICEServers then lists only ExternalURLs.
	Addr string
	// TLSAddr is the TURN-over-TLS (TCP) listen address; "" turns TLS off.
	// It requires TLSConfig.
	TLSAddr string
	// TLSConfig holds the certificate for TLSAddr.
	TLSConfig *tls.Config
	// PublicIP is the relay address announced to clients (NAT 1:1). When
	// empty, the listen IP is announced; if that is unspecified, the first
	// non-loopback IPv4 address of an up interface, or 127.0.0.1 when the
	// machine has none.
	PublicIP string
	// RelayPortMin and RelayPortMax bound the relay ports (inclusive).
	// Both zero means any port the kernel picks.
	RelayPortMin, RelayPortMax uint16
	// Realm is the TURN realm; default "tandem".
	Realm string
	// Secret is the shared secret of the TURN REST API credentials. "" means
	// a random secret chosen at New (credentials then die with the process).
	Secret string
	// CredentialTTL is how long handed-out credentials stay valid; default 6h.
	CredentialTTL time.Duration
	// AllowLoopback permits relaying to 127.0.0.0/8 and ::1 (local testing).
	AllowLoopback bool
	// AllowedPeers are tandem's own media addresses, the only IPs a relay
	// reaches (besides loopback with AllowLoopback).
	AllowedPeers []net.IP
	// MediaPorts are the UDP ports of tandem's media sockets (the media port
	// range or the muxed port), the only ports a relay reaches on
	// AllowedPeers. Required with Addr.
	MediaPorts []PortRange
	// AllocationsPerIP caps concurrent allocations per client IP (an IPv6
	// client's /64); default DefaultAllocationsPerIP, or a quarter of the
	// relay port range when that is smaller (at least 3).
	AllocationsPerIP int
	// MaxAllocations caps concurrent allocations in total; default the
	// number of relay ports, or 10000 when relay ports are not bounded.
	MaxAllocations int
	// CredentialGrace is how long a user's credentials keep working after
	// Release (its session ended); then its allocations are closed. Default
	// DefaultCredentialGrace.
	CredentialGrace time.Duration
	// MaxAllocationsPerUser caps concurrent allocations per credential user
	// id; default 10.
	MaxAllocationsPerUser int
	// ExternalURLs are the URLs of an external TURN server (coturn with
	// use-auth-secret and the same Secret). When set, ICEServers lists these
	// instead of the embedded server's URLs.
	ExternalURLs []string
}

// withDefaults returns a copy of c with defaults filled in.
func (c Config) withDefaults() Config {
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	if c.CredentialTTL <= 0 {
		c.CredentialTTL = DefaultCredentialTTL
	}
	if c.MaxAllocationsPerUser <= 0 {
		c.MaxAllocationsPerUser = DefaultMaxAllocationsPerUser
	}
	if c.CredentialGrace <= 0 {
		c.CredentialGrace = DefaultCredentialGrace
	}
	if c.MaxAllocations <= 0 {
		c.MaxAllocations = defaultMaxAllocationsAnyPort
		if c.RelayPortMin != 0 && c.RelayPortMax >= c.RelayPortMin {
			c.MaxAllocations = int(c.RelayPortMax-c.RelayPortMin) + 1
		}
	}
	if c.AllocationsPerIP <= 0 {
		c.AllocationsPerIP = min(DefaultAllocationsPerIP, max(3, c.MaxAllocations/4))
	}
	c.AllowedPeers = append([]net.IP(nil), c.AllowedPeers...)
	c.MediaPorts = append([]PortRange(nil), c.MediaPorts...)
	c.ExternalURLs = append([]string(nil), c.ExternalURLs...)
	return c
}

// validate reports configuration errors that would otherwise surface as
// half-started listeners.
func (c Config) validate() error {
	if (c.RelayPortMin == 0) != (c.RelayPortMax == 0) {
		return fmt.Errorf("relay port range %d-%d: set both ends or neither", c.RelayPortMin, c.RelayPortMax)
	}
	if c.RelayPortMin > c.RelayPortMax {
		return fmt.Errorf("relay port range %d-%d: min above max", c.RelayPortMin, c.RelayPortMax)
	}
	if c.PublicIP != "" && net.ParseIP(c.PublicIP) == nil {
		return fmt.Errorf("public IP %q: not an IP address", c.PublicIP)
	}
	if c.Addr != "" && c.TLSAddr != "" && c.TLSConfig == nil {
		return fmt.Errorf("TURN TLS address %q set without a TLS certificate", c.TLSAddr)
	}
	if c.Addr != "" && len(c.MediaPorts) == 0 {
		return fmt.Errorf("no media ports: the relay reaches only tandem's media ports, so they must be known")
	}
	for _, r := range c.MediaPorts {
		if r.Min == 0 || r.Min > r.Max {
			return fmt.Errorf("media port range %d-%d: want 1 <= min <= max", r.Min, r.Max)
		}
	}
	for i, ip := range c.AllowedPeers {
		if ip == nil {
			return fmt.Errorf("allowed peer %d: nil IP", i)
		}
	}
	return nil
}

// relayPortsText describes the relay port range for the start-up log: the
// range, or "any free port" when none is set (the kernel picks each port).
func (c Config) relayPortsText() string {
	if c.RelayPortMin == 0 && c.RelayPortMax == 0 {
		return "any free port"
	}
	return fmt.Sprintf("%d-%d", c.RelayPortMin, c.RelayPortMax)
}
