package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envMap(m map[string]string) LookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tandem.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsNeedNoFile(t *testing.T) {
	cfg, err := Load("", envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != ":3000" || cfg.TURN.Addr != ":3478" || cfg.Media.UDPPorts != (PortRange{50000, 50100}) {
		t.Fatalf("defaults differ from protocol.md: %+v", cfg)
	}
	if cfg.TURN.AllowLoopback || cfg.Admin.Token != "" || cfg.TURN.Secret != "" {
		t.Fatal("loopback relaying, admin token and TURN secret must be off/empty by default")
	}
}

func TestStableEnvironmentNames(t *testing.T) {
	cfg, err := Load("", envMap(map[string]string{
		"TANDEM_HTTP_ADDR":               "127.0.0.1:4000",
		"TANDEM_ICE_IPS":                 "127.0.0.1, 10.0.0.2",
		"TANDEM_PUBLIC_IP":               "203.0.113.7",
		"TANDEM_UDP_PORTS":               "40000-40010",
		"TANDEM_TURN_ADDR":               "",
		"TANDEM_TURN_SECRET":             "s3cret",
		"TANDEM_TURN_ALLOW_LOOPBACK":     "true",
		"TANDEM_ADMIN_TOKEN":             "a-long-admin-token",
		"TANDEM_TURN_ALLOCATIONS_PER_IP": "6",
		"TANDEM_OFFERS_PER_MINUTE":       "30",
		"TANDEM_MEDIA_PER_IP":            "7",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.HTTP.Addr = "127.0.0.1:4000"
	want.Media.ICEIPs = []string{"127.0.0.1", "10.0.0.2"}
	want.Media.PublicIP = "203.0.113.7"
	want.Media.UDPPorts = PortRange{40000, 40010}
	want.TURN.Addr = ""
	want.TURN.Secret = "s3cret"
	want.TURN.AllowLoopback = true
	want.Admin.Token = "a-long-admin-token"
	want.TURN.AllocationsPerIP = 6
	want.Signaling.OffersPerMinute = 30
	want.Limits.MediaPerIP = 7
	got, _ := cfg.YAML()
	exp, _ := want.YAML()
	if string(got) != string(exp) {
		t.Fatalf("got\n%s\nwant\n%s", got, exp)
	}
}

func TestYAMLThenEnvironment(t *testing.T) {
	p := writeFile(t, `
http:
  addr: ":8080"
signaling:
  interest_wait: 2s
media:
  udp_ports: "41000-41100"
turn:
  secret: from-file
`)
	cfg, err := Load(p, envMap(map[string]string{"TANDEM_TURN_SECRET": "from-env"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != ":8080" || cfg.Signaling.InterestWait != 2*time.Second ||
		cfg.Media.UDPPorts != (PortRange{41000, 41100}) || cfg.TURN.Secret != "from-env" {
		t.Fatalf("unexpected config %+v", cfg)
	}
	if cfg.Signaling.ChatMessages != 20 {
		t.Fatal("keys absent from the file must keep their defaults")
	}
}

func TestUnknownKeyIsNamed(t *testing.T) {
	p := writeFile(t, "http:\n  adress: \":1\"\n")
	_, err := Load(p, envMap(nil))
	if err == nil || !strings.Contains(err.Error(), "adress") {
		t.Fatalf("want an error naming the unknown key, got %v", err)
	}
}

func TestBadValuesAreRefusedWithTheirName(t *testing.T) {
	cases := map[string]map[string]string{
		"TANDEM_UDP_PORTS":           {"TANDEM_UDP_PORTS": "9-3"},
		"TANDEM_TURN_ALLOW_LOOPBACK": {"TANDEM_TURN_ALLOW_LOOPBACK": "maybe"},
		"TANDEM_INTEREST_WAIT":       {"TANDEM_INTEREST_WAIT": "soon"},
		"media.public_ip":            {"TANDEM_PUBLIC_IP": "not-an-ip"},
		"media.ice_ips":              {"TANDEM_ICE_IPS": "127.0.0.1,x"},
		"log.format":                 {"TANDEM_LOG_FORMAT": "xml"},
		"http.tls_cert":              {"TANDEM_TLS_CERT": "a.pem"},
		"media.video_floor_kbps":     {"TANDEM_VIDEO_FLOOR_KBPS": "-5"},
	}
	for name, env := range cases {
		_, err := Load("", envMap(env))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: want an error naming it, got %v", name, err)
		}
	}
}

func TestExampleConfigsLoad(t *testing.T) {
	files, _ := filepath.Glob("../configs/*.yaml")
	if len(files) == 0 {
		t.Fatal("no example configs found in configs/")
	}
	for _, f := range files {
		if _, err := Load(f, envMap(nil)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestEveryFieldHasAnEnvironmentName(t *testing.T) {
	seen := map[string]bool{}
	for _, pair := range EnvNames() {
		if !strings.HasPrefix(pair[0], "TANDEM_") || seen[pair[0]] {
			t.Errorf("bad or duplicate environment name %q for %s", pair[0], pair[1])
		}
		seen[pair[0]] = true
	}
	if !seen["TANDEM_HTTP_ADDR"] || len(seen) < 30 {
		t.Fatalf("expected every setting to have a name, got %d", len(seen))
	}
}

func TestRedactedHidesSecrets(t *testing.T) {
	c := Default()
	c.TURN.Secret, c.Admin.Token, c.Auth.JWTSecret = "a", "b", "c"
	out, _ := c.Redacted().YAML()
	for _, s := range []string{"secret: a", "token: b", "jwt_secret: c"} {
		if strings.Contains(string(out), s) {
			t.Errorf("secret leaked: %s", s)
		}
	}
}

func TestExampleDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../configs/tandem.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, pair := range EnvNames() {
		key := pair[1][strings.LastIndex(pair[1], ".")+1:]
		if !strings.Contains(string(data), key+":") || !strings.Contains(string(data), pair[0]) {
			t.Errorf("configs/tandem.yaml does not document %s (%s)", pair[1], pair[0])
		}
	}
}
