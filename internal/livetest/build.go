package livetest

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// BuildTandem builds the server binary (cmd/tandem) into a directory of
// the test's and returns its path, for tests that run tandem as a process.
func BuildTandem(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tandem")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/tandemchat/tandem/cmd/tandem")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build tandem: %v\n%s", err, out)
	}
	return bin
}
