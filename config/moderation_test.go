package config

import (
	"strings"
	"testing"
	"time"
)

func TestModerationSettingsFromTheEnvironment(t *testing.T) {
	cfg, err := Load("", envMap(map[string]string{
		"TANDEM_DATA_DIR":        "/var/lib/tandem/data",
		"TANDEM_NEXT_PER_MINUTE": "0",
		"TANDEM_BANS":            "203.0.113.7, 198.51.100.0/24",
		"TANDEM_REPORT_WINDOW":   "12h",
		"TANDEM_CHAT_LINKS":      "strip",
	}))
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Moderation
	if m.DataDir != "/var/lib/tandem/data" || cfg.Signaling.NextPerMinute != 0 || len(m.Bans) != 2 ||
		m.ReportWindow != 12*time.Hour || cfg.Signaling.ChatLinks != "strip" {
		t.Fatalf("got %+v, signaling %+v", m, cfg.Signaling)
	}
}

func TestBadModerationSettingsAreNamed(t *testing.T) {
	for env, key := range map[string]string{
		"TANDEM_BANS":              "moderation.bans",
		"TANDEM_BAN_ESCALATION":    "moderation.ban_escalation",
		"TANDEM_NEXT_PER_MINUTE":   "signaling.next_per_minute",
		"TANDEM_CHAT_LINKS":        "signaling.chat_links",
		"TANDEM_LOW_TRUST_PERCENT": "moderation.low_trust_percent",
		"TANDEM_DATA_DIR":          "moderation.data_dir",
	} {
		bad := map[string]string{
			"TANDEM_BANS": "not-an-address", "TANDEM_BAN_ESCALATION": "0", "TANDEM_NEXT_PER_MINUTE": "-1",
			"TANDEM_CHAT_LINKS": "maybe", "TANDEM_LOW_TRUST_PERCENT": "101", "TANDEM_DATA_DIR": "",
		}[env]
		if _, err := Load("", envMap(map[string]string{env: bad})); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%q: %v, want an error naming %s", env, bad, err, key)
		}
	}
	c := Default()
	c.Moderation.IPHashKey = "hash-key-value"
	out, _ := c.Redacted().YAML()
	if strings.Contains(string(out), "hash-key-value") {
		t.Error("moderation.ip_hash_key is printed")
	}
}
