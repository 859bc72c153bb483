// Package moderation is tandem's record of abuse and its rules on who may
// connect and who may be paired with whom: reports users make about each
// other, bans (automatic after several reports, set by an operator, or static
// from the configuration), an audit log of operator actions, and a
// reputation that keeps persistent offenders in a pool of their own.
//
// Everything it records lives in a Store (an embedded bbolt file by default,
// see OpenBolt); bans are also held in an in-memory index, so checking a
// connecting client costs a few map look-ups and no I/O.
package moderation

import (
	"fmt"
	"time"
)

// Config configures a Moderator. Start from DefaultConfig.
type Config struct {
	// DataDir holds the embedded store (created if missing).
	DataDir string
	// ReportThreshold is how many distinct reporters (reporters from one IP
	// count once) within ReportWindow get a client banned automatically;
	// 0 turns automatic bans off.
	ReportThreshold int
	// ReportWindow is how far back reports count toward ReportThreshold.
	ReportWindow time.Duration
	// BanDuration is how long a first automatic ban lasts.
	BanDuration time.Duration
	// BanEscalation multiplies the duration of each further automatic ban of
	// the same client (1 keeps it constant).
	BanEscalation int
	// BanMax caps the duration of an automatic ban.
	BanMax time.Duration
	// Retention is how long reports are kept; older ones are deleted, and so
	// are ban records that ended longer ago than that.
	Retention time.Duration
	// IPHashKey, when not empty, makes report records keep a keyed hash
	// (HMAC-SHA256) of client IPs instead of the IPs themselves. Bans still
	// name the banned address, since they must match it.
	IPHashKey string
	// StaticBans are IPs and CIDR prefixes refused for as long as they are in
	// the configuration; they are not stored.
	StaticBans []string
	// LowTrustPercent, when above 0, puts a client who received at least
	// LowTrustMinReports reports, and reports in at least this percentage of
	// its calls, in the low-trust pool: paired only with others in it.
	LowTrustPercent int
	// LowTrustMinReports is the fewest reports received before a client can
	// be put in the low-trust pool.
	LowTrustMinReports int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultConfig returns the built-in settings.
func DefaultConfig() Config {
	return Config{
		DataDir:            "data",
		ReportThreshold:    3,
		ReportWindow:       24 * time.Hour,
		BanDuration:        24 * time.Hour,
		BanEscalation:      4,
		BanMax:             30 * 24 * time.Hour,
		Retention:          30 * 24 * time.Hour,
		LowTrustPercent:    20,
		LowTrustMinReports: 2,
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return fmt.Errorf("data dir: must not be empty")
	}
	if c.ReportThreshold < 0 || c.BanEscalation < 1 {
		return fmt.Errorf("report threshold must not be negative and ban escalation must be at least 1")
	}
	if c.ReportWindow <= 0 || c.BanDuration <= 0 || c.BanMax < c.BanDuration || c.Retention <= 0 {
		return fmt.Errorf("report window, ban duration and retention must be positive, and the ban maximum at least the ban duration")
	}
	if c.LowTrustPercent < 0 || c.LowTrustPercent > 100 || c.LowTrustMinReports < 1 {
		return fmt.Errorf("low-trust percent must be 0 to 100 and its minimum of reports at least 1")
	}
	for _, s := range c.StaticBans {
		if _, err := ParseTarget(s); err != nil || isIdentity(s) {
			return fmt.Errorf("static ban %q: not an IP address or CIDR prefix", s)
		}
	}
	return nil
}

func (c Config) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}
