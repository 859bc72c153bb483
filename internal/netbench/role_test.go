package netbench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tandemchat/tandem/internal/browsertest"
	"github.com/tandemchat/tandem/internal/testlog"
)

// A browser runs in its namespace as this test binary run again under
// `ip netns exec` (a goroutine cannot change namespace safely), with roleEnv
// set: TestNetbenchBrowser then starts Chromium there and evaluates the
// JavaScript the parent sends, one request a line on its standard input, one
// reply a line on its standard output.
const (
	roleEnv   = "TANDEM_NETBENCH_ROLE"   // the browser's name
	originEnv = "TANDEM_NETBENCH_ORIGIN" // the plain-http origin to treat as secure
)

// request and reply are the role protocol's lines.
type request struct {
	Open string `json:"open,omitempty"` // a URL to load
	JS   string `json:"js,omitempty"`   // an expression to evaluate (promises awaited)
}

type reply struct {
	Value json.RawMessage `json:"value,omitempty"`
	Error string          `json:"error,omitempty"`
}

// TestNetbenchBrowser is not a test: it is the body of a browser role (see
// roleEnv), and skips otherwise.
func TestNetbenchBrowser(t *testing.T) {
	name := os.Getenv(roleEnv)
	if name == "" {
		t.Skip("runs only as a browser of TestNetbench")
	}
	b := browsertest.New(t, name, browsertest.Options{
		WaitLimit: time.Minute,
		Flags: []chromedp.ExecAllocatorOption{
			chromedp.Flag("unsafely-treat-insecure-origin-as-secure", os.Getenv(originEnv)),
			chromedp.Flag("use-file-for-fake-video-capture", os.Getenv(cameraEnv)),
		},
	})
	b.AddInitScript("the netbench probe", probeJS)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		var rep reply
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			rep.Error = err.Error()
		} else if rep.Value, err = serve(b, req); err != nil {
			rep.Error = err.Error()
		}
		if err := out.Encode(rep); err != nil {
			t.Fatal(err)
		}
	}
}

// serve carries out one request in the browser's tab.
func serve(b *browsertest.Browser, req request) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(b.Context(), b.WaitLimit())
	defer cancel()
	if req.Open != "" {
		_, err := chromedp.Run(ctx, chromedp.Navigate(req.Open))
		return nil, err
	}
	v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](req.JS, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, b.Console())
	}
	return v, nil
}

// browser is the parent's side of a browser role.
type browser struct {
	name   string
	cmd    *exec.Cmd
	in     *json.Encoder
	out    *json.Decoder
	stderr *testlog.Buffer
}

// startBrowser starts a browser named name in namespace ns; origin is the
// plain-http origin its pages come from, camera the file its fake camera
// shows. It ends with the test.
func startBrowser(t *testing.T, ns, name, origin, camera string) *browser {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, exe, "-test.run=^TestNetbenchBrowser$", "-test.timeout=1h")
	cmd.Env = append(os.Environ(), roleEnv+"="+name, originEnv+"="+origin, cameraEnv+"="+camera)
	b := &browser{name: name, cmd: cmd, stderr: &testlog.Buffer{}}
	cmd.Stderr = b.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b.in, b.out = json.NewEncoder(stdin), json.NewDecoder(stdout)
	t.Cleanup(func() {
		_ = stdin.Close() // the role's loop ends, and Chromium with it
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return b
}

// do sends one request and decodes its reply into v (nil: ignored).
func (b *browser) do(t *testing.T, req request, v any) {
	t.Helper()
	if err := b.in.Encode(req); err != nil {
		t.Fatalf("%s: send: %v\n%s", b.name, err, b.stderr)
	}
	var rep reply
	if err := b.out.Decode(&rep); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("the browser role ended")
		}
		t.Fatalf("%s: %v\n%s", b.name, err, b.stderr)
	}
	if rep.Error != "" {
		t.Fatalf("%s: %s: %s", b.name, describe(req), rep.Error)
	}
	if v != nil {
		if err := json.Unmarshal(rep.Value, v); err != nil {
			t.Fatalf("%s: %s: decode %s: %v", b.name, describe(req), rep.Value, err)
		}
	}
}

// open loads url in the browser's tab.
func (b *browser) open(t *testing.T, url string) {
	t.Helper()
	b.do(t, request{Open: url}, nil)
}

// eval evaluates js in the tab into v.
func (b *browser) eval(t *testing.T, js string, v any) {
	t.Helper()
	b.do(t, request{JS: js}, v)
}

// waitFor evaluates the predicate js until it is true, failing after limit.
func (b *browser) waitFor(t *testing.T, what, js string, limit time.Duration) {
	t.Helper()
	if !b.until(t, js, limit) {
		t.Fatalf("%s: timed out after %v waiting for %s", b.name, limit, what)
	}
}

// until evaluates the predicate js until it is true, and reports whether it
// became true within limit.
func (b *browser) until(t *testing.T, js string, limit time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var ok bool
		b.eval(t, "(async () => Boolean(await ("+js+")))()", &ok)
		if ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond) // polling a page: the event is in another process
	}
}

func describe(req request) string {
	if req.Open != "" {
		return "open " + req.Open
	}
	if len(req.JS) > 60 {
		return "evaluate " + req.JS[:60] + "..."
	}
	return "evaluate " + req.JS
}
