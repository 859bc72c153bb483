package config

import (
	"fmt"
	"time"
)

// validateHTTPLimits checks the HTTP listeners' timeouts and the per-IP
// connection cap.
func (c *Config) validateHTTPLimits() error {
	h := c.HTTP
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"http.read_header_timeout", h.ReadHeaderTimeout}, {"http.read_timeout", h.ReadTimeout},
		{"http.write_timeout", h.WriteTimeout}, {"http.idle_timeout", h.IdleTimeout},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s: must be positive", d.key)
		}
	}
	if h.ReadHeaderTimeout > h.ReadTimeout {
		return fmt.Errorf("http.read_header_timeout: must not be longer than http.read_timeout, which covers the headers too")
	}
	if h.ConnsPerIP < 0 {
		return fmt.Errorf("http.conns_per_ip: must not be negative (0 means twice limits.sessions_per_ip plus 16)")
	}
	if h.ConnsPerIP != 0 && h.ConnsPerIP < c.Limits.SessionsPerIP {
		return fmt.Errorf("http.conns_per_ip: %d is below limits.sessions_per_ip (%d); every session holds a connection",
			h.ConnsPerIP, c.Limits.SessionsPerIP)
	}
	return nil
}
