package config

import (
	"strings"
	"testing"

	"github.com/tandemchat/tandem/internal/deploytest"
)

// TestComposeFileStartsValidInstances loads each tandem service of
// deploy/compose.yaml (no container runtime needed) as its instance would:
// every TANDEM_* name it sets is known, the settings pass validation, and
// the instances share Redis but take ports of their own.
func TestComposeFileStartsValidInstances(t *testing.T) {
	// What the operator exports, as the file's header says.
	vars := map[string]string{"TANDEM_CLUSTER_SECRET": strings.Repeat("ab", 32), "TANDEM_PUBLIC_IP": "203.0.113.10"}
	services, err := deploytest.ReadCompose("../deploy/compose.yaml", vars)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{} // a port-like setting's value -> the service using it
	instances := 0
	for name, svc := range services {
		if !strings.HasPrefix(name, "tandem") {
			continue
		}
		instances++
		var environ []string
		for k, v := range svc.Environment {
			environ = append(environ, k+"="+v)
		}
		if warn := UnknownEnv(environ); len(warn) != 0 {
			t.Errorf("%s: %v", name, warn)
		}
		cfg, err := Load("", func(k string) (string, bool) { v, ok := svc.Environment[k]; return v, ok })
		if err != nil {
			t.Errorf("%s does not start: %v", name, err)
			continue
		}
		if cfg.Cluster.RedisURL == "" {
			t.Errorf("%s is not in cluster mode", name)
		}
		for _, k := range []string{"TANDEM_HTTP_ADDR", "TANDEM_UDP_MUX_PORT", "TANDEM_TURN_ADDR", "TANDEM_CLUSTER_ADDR"} {
			v := svc.Environment[k]
			if v == "" {
				t.Errorf("%s sets no %s: on one host it would take another instance's", name, k)
			} else if other, dup := seen[v]; dup {
				t.Errorf("%s and %s both use %s=%s", name, other, k, v)
			}
			seen[v] = name
		}
	}
	if instances != 3 {
		t.Fatalf("%d tandem services in deploy/compose.yaml, want 3", instances)
	}
}
