package turn

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The network-namespace test re-runs this binary inside a namespace to
	// play one side of a call; see netns_test.go.
	if role := os.Getenv(netnsRoleEnv); role != "" {
		os.Exit(runNetnsRole(role))
	}
	goleak.VerifyTestMain(m)
}
