package config

import (
	"strings"
	"testing"
)

func TestClusterSettingsFromTheEnvironment(t *testing.T) {
	cfg, err := Load("", envMap(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.Enabled() {
		t.Fatal("cluster mode is on without TANDEM_REDIS_URL")
	}
	secret := strings.Repeat("s", 32)
	cfg, err = Load("", envMap(map[string]string{
		"TANDEM_REDIS_URL":      "redis://:pw@10.0.0.2:6379/1",
		"TANDEM_CLUSTER_ADDR":   "10.0.0.5:7000",
		"TANDEM_CLUSTER_SECRET": secret,
	}))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Cluster
	if !c.Enabled() || c.RedisURL != "redis://:pw@10.0.0.2:6379/1" || c.Addr != "10.0.0.5:7000" || c.Secret != secret {
		t.Fatalf("got %+v", c)
	}
	out, _ := cfg.Redacted().YAML()
	if strings.Contains(string(out), secret) || strings.Contains(string(out), ":pw@") {
		t.Errorf("the cluster secret or the Redis password is printed:\n%s", out)
	}
}

func TestBadClusterSettingsAreNamed(t *testing.T) {
	good := map[string]string{
		"TANDEM_REDIS_URL":      "redis://127.0.0.1:6379",
		"TANDEM_CLUSTER_ADDR":   "127.0.0.1:7946",
		"TANDEM_CLUSTER_SECRET": strings.Repeat("s", 32),
	}
	for _, c := range []struct{ env, value, key string }{
		{"TANDEM_CLUSTER_SECRET", "", "cluster.secret"},
		{"TANDEM_CLUSTER_SECRET", "too short a secret", "cluster.secret"},
		{"TANDEM_REDIS_URL", "http://127.0.0.1:6379", "cluster.redis_url"},
		{"TANDEM_REDIS_URL", "redis://127.0.0.1:6379?bogus=1", "cluster.redis_url"},
		{"TANDEM_CLUSTER_ADDR", "0.0.0.0:7946", "cluster.addr"},
		{"TANDEM_CLUSTER_ADDR", "127.0.0.1", "cluster.addr"},
		{"TANDEM_CLUSTER_ADDR", "redis-host:7946", "cluster.addr"},
		{"TANDEM_BRIDGE_HOLD", "-1ms", "cluster.bridge_hold"},
		{"TANDEM_BRIDGE_HOLD", "21ms", "cluster.bridge_hold"},
	} {
		env := map[string]string{}
		for k, v := range good {
			env[k] = v
		}
		env[c.env] = c.value
		if _, err := Load("", envMap(env)); err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s=%q: %v, want an error naming %s", c.env, c.value, err, c.key)
		}
	}
	if _, err := Load("", envMap(good)); err != nil {
		t.Fatalf("good cluster settings refused: %v", err)
	}
	// Without Redis the other cluster settings are not checked: a single instance ignores them.
	if _, err := Load("", envMap(map[string]string{"TANDEM_CLUSTER_SECRET": "short"})); err != nil {
		t.Fatalf("a single instance refused over cluster settings: %v", err)
	}
}
