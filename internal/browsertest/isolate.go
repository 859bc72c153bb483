package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// NetnsEnv marks a test process that already runs in a private network
// namespace: ReexecIsolated and RunIsolated set it in the process they
// start, and a caller who isolated the tests another way may set it to 1.
const NetnsEnv = "TANDEM_TEST_NETNS"

// outerNetnsEnv names, in the isolated process, the network namespace its
// parent ran in (as /proc/self/ns/net reads); see OuterNetns.
const outerNetnsEnv = "TANDEM_TEST_OUTER_NETNS"

// isolatedRunLimit bounds one test run again by RunIsolated.
const isolatedRunLimit = 4 * time.Minute

// Isolated reports whether this process runs in a private network namespace
// (NetnsEnv is set).
func Isolated() bool { return os.Getenv(NetnsEnv) != "" }

// OuterNetns returns the network namespace of the process that started this
// isolated one, as its /proc/self/ns/net read, or "" when unknown. A test
// that changes interfaces compares it with its own to prove it runs in
// another namespace.
func OuterNetns() string { return os.Getenv(outerNetnsEnv) }

// RequireIsolated skips the test unless it runs in a private network
// namespace.
func RequireIsolated(t testing.TB) {
	t.Helper()
	if !Isolated() {
		t.Skipf("browser tests run only in a private network namespace: run them as root with unshare available, "+
			"or isolate the test yourself and set %s=1", NetnsEnv)
	}
}

// ReexecIsolated is for a TestMain whose package runs browsers: unless this
// process is already isolated, it runs the test binary again, with the same
// arguments, in a new network namespace with only lo up, and returns its
// exit status and true. It returns false, doing nothing, when the process is
// already isolated or cannot be (not root, no working unshare); then the
// caller runs the tests itself and RequireIsolated skips the browser ones.
func ReexecIsolated() (code int, reexecuted bool) {
	if Isolated() {
		return 0, false
	}
	cmd, err := isolatedCommand(context.Background(), os.Args[1:]...)
	if err != nil {
		return 0, false
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return exit.ExitCode(), true
	default:
		fmt.Fprintf(os.Stderr, "run the tests in a private network namespace: %v\n", err)
		return 1, true
	}
}

// RunIsolated is for one browser test in a package that does not isolate
// all its tests. In an isolated process it returns true and the test goes
// on. Otherwise it runs this test alone again in a new network namespace
// with only lo up, logs that run's output, fails t if the run fails, and
// returns false: the caller then returns. It skips t when isolation is
// impossible here (not root, no working unshare).
func RunIsolated(t *testing.T) bool {
	t.Helper()
	if Isolated() {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), isolatedRunLimit)
	defer cancel()
	cmd, err := isolatedCommand(ctx, "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	if err != nil {
		t.Skipf("browser test runs only in a private network namespace: %v", err)
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		t.Logf("in a private network namespace:\n%s", out)
	case errors.As(err, &exit):
		t.Fatalf("in a private network namespace: %v\n%s", err, out)
	default:
		t.Fatalf("run in a private network namespace: %v", err)
	}
	return false
}

// isolatedCommand returns a command that runs this test binary with args
// under `unshare --net`, after bringing lo up, with NetnsEnv and
// outerNetnsEnv set. It fails when that is impossible here.
func isolatedCommand(ctx context.Context, args ...string) (*exec.Cmd, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return nil, fmt.Errorf("find unshare: %w", err)
	}
	if out, err := exec.Command(unshare, "--net", "true").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("unshare --net: %w: %s", err, strings.TrimSpace(string(out)))
	}
	shArgs := append([]string{"--net", "sh", "-c", `ip link set lo up && exec "$0" "$@"`, os.Args[0]}, args...)
	cmd := exec.CommandContext(ctx, unshare, shArgs...)
	cmd.Env = append(os.Environ(), NetnsEnv+"=1")
	if outer, err := os.Readlink("/proc/self/ns/net"); err == nil {
		cmd.Env = append(cmd.Env, outerNetnsEnv+"="+outer)
	}
	return cmd, nil
}
