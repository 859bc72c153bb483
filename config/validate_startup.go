package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
)

// MinTokenLength is the shortest admin.token and auth.jwt_secret accepted:
// both can be guessed offline or by trying, so a word will not do.
const MinTokenLength = 12

// validateStartup refuses settings the server would start with but that
// cannot work: listen addresses that do not parse, ports out of range or
// taken twice, secrets too short to keep anyone out, origins that can
// never match, and token checks without tokens.
func (c *Config) validateStartup() error {
	for _, check := range []func() error{
		c.validateAddresses, c.validateMediaPorts, c.validateSecrets, c.validateOrigins,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// validateAddresses checks that every listen address is host:port.
func (c *Config) validateAddresses() error {
	addrs := []struct{ key, v string }{
		{"http.addr", c.HTTP.Addr}, {"turn.addr", c.TURN.Addr}, {"turn.tls_addr", c.TURN.TLSAddr},
	}
	if len(c.HTTP.ACMEDomains) > 0 {
		addrs = append(addrs, struct{ key, v string }{"http.redirect_addr", c.HTTP.RedirectAddr})
	}
	for _, a := range addrs {
		if a.v == "" {
			continue
		}
		if _, _, err := splitListenAddr(a.v); err != nil {
			return fmt.Errorf("%s: %q is not a listen address like :3000 or 127.0.0.1:3000: %v", a.key, a.v, err)
		}
	}
	return nil
}

// validateMediaPorts checks the media ports: a range that is not inverted,
// ports within 1-65535, and no media port that another listener of this
// server takes too.
func (c *Config) validateMediaPorts() error {
	m := c.Media
	if r := m.UDPPorts; !r.IsZero() && (r.Min == 0 || r.Min > r.Max) {
		return fmt.Errorf("media.udp_ports: %d-%d is not a range MIN-MAX with 1 <= MIN <= MAX", r.Min, r.Max)
	}
	for _, p := range []struct {
		key string
		v   int
	}{{"media.udp_mux_port", m.UDPMuxPort}, {"media.tcp_port", m.TCPPort}} {
		if p.v < 0 || p.v > 65535 {
			return fmt.Errorf("%s: %d is not a port (1-65535, or 0 for off)", p.key, p.v)
		}
	}
	if c.TURN.Addr != "" {
		if clashes(m, m.UDPMuxPort, c.TURN.Addr) {
			return fmt.Errorf("media.udp_mux_port: %d is turn.addr's port too (both UDP)", m.UDPMuxPort)
		}
		if _, port, _ := splitListenAddr(c.TURN.Addr); m.UDPMuxPort == 0 && inRange(m.UDPPorts, port) {
			return fmt.Errorf("media.udp_ports: %s holds turn.addr's port %d; a media connection would take it", m.UDPPorts, port)
		}
	}
	tcp := []struct{ key, v string }{{"http.addr", c.HTTP.Addr}, {"turn.addr", c.TURN.Addr}, {"turn.tls_addr", c.TURN.TLSAddr}}
	if len(c.HTTP.ACMEDomains) > 0 {
		tcp = append(tcp, struct{ key, v string }{"http.redirect_addr", c.HTTP.RedirectAddr})
	}
	for _, a := range tcp {
		if a.v != "" && clashes(m, m.TCPPort, a.v) {
			return fmt.Errorf("media.tcp_port: %d is %s's port too (both TCP)", m.TCPPort, a.key)
		}
	}
	return nil
}

// clashes reports whether a media listener on port (0: none), bound on the
// ICE IPs (all addresses when there are none), would share a port with a
// listener at addr.
func clashes(m Media, port int, addr string) bool {
	host, p, err := splitListenAddr(addr)
	if err != nil || port == 0 || p != port {
		return false
	}
	ip := net.ParseIP(host)
	return len(m.ICEIPs) == 0 || ip == nil || ip.IsUnspecified() ||
		slices.ContainsFunc(m.ICEIPs, func(s string) bool { return net.ParseIP(s).Equal(ip) })
}

func inRange(r PortRange, port int) bool {
	return !r.IsZero() && port >= int(r.Min) && port <= int(r.Max)
}

// splitListenAddr splits "host:port" with a port 0-65535 (0: any).
func splitListenAddr(addr string) (host string, port int, err error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err = strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not 0-65535", ps)
	}
	return host, port, nil
}

// validateSecrets refuses guessable secrets and token checks without tokens.
func (c *Config) validateSecrets() error {
	if t := c.Admin.Token; t != "" && len(t) < MinTokenLength {
		return fmt.Errorf("admin.token: %d characters is too short to keep guessers out; use at least %d (e.g. openssl rand -hex 32)", len(t), MinTokenLength)
	}
	if s := c.Auth.JWTSecret; s != "" && len(s) < MinTokenLength {
		return fmt.Errorf("auth.jwt_secret: %d characters is too short (a captured token lets anyone try secrets offline); use at least %d (e.g. openssl rand -hex 32)", len(s), MinTokenLength)
	}
	if c.Auth.JWTSecret == "" && c.Auth.JWTAudience != "" {
		return fmt.Errorf("auth.jwt_audience: has no effect without auth.jwt_secret")
	}
	if c.Auth.JWTSecret == "" && c.Auth.JWTIssuer != "" {
		return fmt.Errorf("auth.jwt_issuer: has no effect without auth.jwt_secret")
	}
	return nil
}

// validateOrigins refuses allowed origins a browser's Origin header can
// never equal: "*" or scheme://host[:port], without a path.
func (c *Config) validateOrigins() error {
	for _, o := range c.HTTP.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("http.allowed_origins: %q is not an origin like https://site.example (scheme and host, no path)", o)
		}
	}
	return nil
}
