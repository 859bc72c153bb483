package config

import (
	"fmt"
	"net"
)

// validate reports the first moderation setting that cannot work, naming it.
func (m Moderation) validate() error {
	switch {
	case m.DataDir == "":
		return fmt.Errorf("moderation.data_dir: must not be empty")
	case m.ReportThreshold < 0:
		return fmt.Errorf("moderation.report_threshold: must not be negative (0 turns automatic bans off)")
	case m.ReportWindow <= 0 || m.BanDuration <= 0 || m.Retention <= 0:
		return fmt.Errorf("moderation.report_window, ban_duration and retention: must be positive")
	case m.BanEscalation < 1:
		return fmt.Errorf("moderation.ban_escalation: must be at least 1")
	case m.BanMax < m.BanDuration:
		return fmt.Errorf("moderation.ban_max: must be at least moderation.ban_duration")
	case m.LowTrustPercent < 0 || m.LowTrustPercent > 100:
		return fmt.Errorf("moderation.low_trust_percent: must be 0 to 100 (0 turns the low-trust pool off)")
	case m.LowTrustMinReports < 1:
		return fmt.Errorf("moderation.low_trust_min_reports: must be at least 1")
	}
	for _, b := range m.Bans {
		if _, _, err := net.ParseCIDR(b); err != nil && net.ParseIP(b) == nil {
			return fmt.Errorf("moderation.bans: %q is not an IP address or CIDR prefix", b)
		}
	}
	return nil
}
