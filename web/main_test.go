package web_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"go.uber.org/goleak"
)

// netnsEnv marks a test process that already runs in a private network
// namespace (set by the re-exec below, or by a caller that isolated the
// tests itself).
const netnsEnv = "TANDEM_WEB_TEST_NETNS"

// outerNetnsEnv names, in the re-executed test process, the network
// namespace its parent ran in (as /proc/self/ns/net reads), so a test can
// prove it runs in another one before changing interfaces.
const outerNetnsEnv = "TANDEM_WEB_TEST_OUTER_NETNS"

// TestMain runs the package's tests in a fresh network namespace that has
// only a loopback interface, so the browsers and the server they talk to can
// reach nothing but each other. As root with unshare available, the test
// binary re-executes itself under `unshare --net`; otherwise the browser tests
// skip (see requireBrowser) and the rest run as usual. goleak then checks
// that no goroutine outlives the tests.
func TestMain(m *testing.M) {
	if os.Getenv(netnsEnv) == "" && os.Geteuid() == 0 {
		if unshare, err := exec.LookPath("unshare"); err == nil && exec.Command(unshare, "--net", "true").Run() == nil {
			os.Exit(reexecIsolated(unshare))
		}
	}
	goleak.VerifyTestMain(m)
}

// reexecIsolated runs this test binary again, with the same arguments, inside
// a new network namespace with lo up, and returns its exit status.
func reexecIsolated(unshare string) int {
	args := append([]string{"--net", "sh", "-c", `ip link set lo up && exec "$0" "$@"`, os.Args[0]}, os.Args[1:]...)
	cmd := exec.Command(unshare, args...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	if outer, err := os.Readlink("/proc/self/ns/net"); err == nil {
		cmd.Env = append(cmd.Env, outerNetnsEnv+"="+outer)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return exit.ExitCode()
	default:
		fmt.Fprintf(os.Stderr, "web tests: run in a private network namespace: %v\n", err)
		return 1
	}
}
