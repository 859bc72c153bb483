package config

import (
	"strings"
	"testing"
)

func TestUnknownEnvNamesTheClosestSetting(t *testing.T) {
	environ := []string{
		"PATH=/usr/bin",
		"TANDEM_HTTP_ADDR=127.0.0.1:3000", // known
		"TANDEM_CONFIG=/etc/tandem/tandem.yaml",
		"TANDEM_HTTP_ADR=:3000",
		"MY_TANDEM_HTTP_ADR=x", // not a TANDEM_* variable
		"TANDEM_TURN_SECRT=hunter2",
		"TANDEM_UDPPORTS=40000-40100",
		"TANDEM_COLOUR_SCHEME=dark",
		"TANDEM_EMPTY",
	}
	got := UnknownEnv(environ)
	want := []string{
		"TANDEM_HTTP_ADR is not a tandem setting; did you mean TANDEM_HTTP_ADDR?",
		"TANDEM_TURN_SECRT is not a tandem setting; did you mean TANDEM_TURN_SECRET?",
		"TANDEM_UDPPORTS is not a tandem setting; did you mean TANDEM_UDP_PORTS?",
		"TANDEM_COLOUR_SCHEME is not a tandem setting; it is ignored",
		"TANDEM_EMPTY is not a tandem setting; it is ignored",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d warnings, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) || !strings.Contains(got[i], "tandem -h") {
			t.Errorf("warning %d = %q, want %q and a pointer to tandem -h", i, got[i], want[i])
		}
	}
	if strings.Contains(strings.Join(got, "\n"), "hunter2") {
		t.Error("a warning shows a variable's value")
	}
}

func TestUnknownEnvAcceptsEveryKnownName(t *testing.T) {
	var environ []string
	for _, pair := range EnvNames() {
		environ = append(environ, pair[0]+"=x")
	}
	if got := UnknownEnv(environ); len(got) != 0 {
		t.Errorf("known variables warned about: %q", got)
	}
}

func TestClosestAndEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{
		{"", "", 0}, {"addr", "addr", 0}, {"adr", "addr", 1}, {"addr", "adr", 1},
		{"kitten", "sitting", 3}, {"", "abc", 3}, {"media", "meda", 1},
	} {
		if d := editDistance(tc.a, tc.b); d != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, d, tc.d)
		}
	}
	keys := []string{"addr", "allowed_origins", "tls_cert", "tls_key"}
	for name, want := range map[string]string{"adr": "addr", "tls_kye": "tls_key", "tls_cer": "tls_cert", "shutdown": ""} {
		if got := closest(name, keys); got != want {
			t.Errorf("closest(%q) = %q, want %q", name, got, want)
		}
	}
}
