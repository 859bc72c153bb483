package deploytest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadComposeRefusesWhatComposeRefuses: a key the compose specification
// does not know, a required variable the operator did not export, and a
// depends_on naming no service are errors, as docker compose makes them.
func TestReadComposeRefusesWhatComposeRefuses(t *testing.T) {
	for _, c := range []struct{ name, file, want string }{
		{"unknown key", "services:\n  app:\n    image: tandem\n    network_mod: host\n", "network_mod"},
		{"missing variable", "services:\n  app:\n    image: tandem\n    environment:\n      S: ${SECRET:?set SECRET}\n", "set SECRET"},
		{"unknown dependency", "services:\n  app:\n    image: tandem\n    depends_on: [redis]\n", "redis"},
	} {
		path := filepath.Join(t.TempDir(), "compose.yaml")
		if err := os.WriteFile(path, []byte(c.file), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadCompose(path, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %q", c.name, err, c.want)
		}
	}
}

// TestTheComposeFileNeedsTheOperatorsSettings: deploy/compose.yaml loads with
// the two variables its header tells the operator to export, and without
// either it names the one missing.
func TestTheComposeFileNeedsTheOperatorsSettings(t *testing.T) {
	vars := map[string]string{"TANDEM_CLUSTER_SECRET": strings.Repeat("ab", 32), "TANDEM_PUBLIC_IP": "203.0.113.10"}
	services, err := ReadCompose("../../deploy/compose.yaml", vars)
	if err != nil {
		t.Fatal(err)
	}
	for name, svc := range services {
		if svc.NetworkMode != "host" {
			t.Errorf("%s: network_mode %q; the deployment (and this package's test of it) assumes host", name, svc.NetworkMode)
		}
	}
	if got := services["tandem1"].Environment["TANDEM_PUBLIC_IP"]; got != "203.0.113.10" {
		t.Errorf("tandem1's TANDEM_PUBLIC_IP = %q, want the exported one", got)
	}
	for name := range vars {
		partial := map[string]string{}
		for k, v := range vars {
			if k != name {
				partial[k] = v
			}
		}
		if _, err := ReadCompose("../../deploy/compose.yaml", partial); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("without %s: %v, want an error naming it", name, err)
		}
	}
}
