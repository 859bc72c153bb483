package web_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/tandemchat/tandem/internal/browsertest"
)

// TestMain runs the package's tests in a fresh network namespace that has
// only a loopback interface, so the browsers and the server they talk to can
// reach nothing but each other. As root with unshare available, the test
// binary re-executes itself under `unshare --net` (browsertest.ReexecIsolated);
// otherwise the browser tests skip (see requireBrowser) and the rest run as
// usual. goleak then checks that no goroutine outlives the tests.
func TestMain(m *testing.M) {
	if code, reexecuted := browsertest.ReexecIsolated(); reexecuted {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}
