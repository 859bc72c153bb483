package server

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/tandemchat/tandem/internal/testlog"
)

// browserNetnsEnv marks a test process already running in a private network
// namespace, made for TestBrowsersCallEachOtherOnAnHTTPSName.
const browserNetnsEnv = "TANDEM_SERVER_TEST_NETNS"

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

// TestBrowsersCallEachOtherOnAnHTTPSName is what issue 7 asks for, seen by
// real browsers: two headless Chromiums open https://tandem.test:PORT/ (a
// name, not localhost), which is a secure context, so each gets its fake
// camera, presses Start, and plays the other's video. The test certificate
// is trusted by its public key hash, and the name resolves to 127.0.0.1 in
// the browser only. The test re-runs itself under `unshare --net`, so the
// browsers reach nothing but this server.
func TestBrowsersCallEachOtherOnAnHTTPSName(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test; skipped with -short")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("Chromium not installed at %s: %v", chromiumPath, err)
	}
	if os.Getenv(browserNetnsEnv) == "" {
		runIsolated(t)
		return
	}
	verifyNoLeaks(t)
	ca := newTestCA(t)
	cfg := fileCertConfig(t, ca, "tandem.test")
	log, _ := testlog.NewLogger(t, "server log", slog.LevelDebug)
	srv := startServer(t, cfg, log)
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	url := "https://tandem.test:" + port + "/"
	pin := spkiHash(t, cfg.HTTP.TLSCert)

	alice := newHTTPSBrowser(t, "alice", pin)
	bob := newHTTPSBrowser(t, "bob", pin)
	for _, b := range []*httpsBrowser{alice, bob} {
		b.run("open "+url, chromedp.Navigate(url))
		b.waitFor("the page to load", `document.querySelector('#start') !== null`)
		if !evalBool(b, `window.isSecureContext && location.protocol === 'https:'`) {
			t.Fatalf("%s: %s is not a secure context", b.name, url)
		}
	}
	for _, b := range []*httpsBrowser{alice, bob} {
		b.run("press Start", chromedp.Click(chromedp.CSS("#start")))
	}
	for _, b := range []*httpsBrowser{alice, bob} {
		b.waitFor("its own camera", `document.querySelector('#local-video').videoWidth > 0`)
		b.waitFor("the stranger's video to play", `(async () => {
		  const v = document.querySelector('#remote-video');
		  if (v.videoWidth === 0) return false;
		  const t0 = v.currentTime;
		  await new Promise(r => setTimeout(r, 1000));
		  return v.currentTime > t0;
		})()`)
	}
}

// runIsolated runs this one test again in a new network namespace with only
// lo up, and fails if it fails there. Without root or unshare it skips.
func runIsolated(t *testing.T) {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 || exec.Command(unshare, "--net", "true").Run() != nil {
		t.Skip("browser test runs only in a private network namespace: needs root and unshare")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "--net", "sh", "-c", `ip link set lo up && exec "$0" "$@"`,
		os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), browserNetnsEnv+"=1")
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
}

// spkiHash is the base64 SHA-256 of the certificate's public key, the form
// Chromium's --ignore-certificate-errors-spki-list takes.
func spkiHash(t *testing.T, certFile string) string {
	t.Helper()
	data, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// httpsBrowser is one headless Chromium with a fake camera that resolves
// tandem.test to 127.0.0.1 and trusts the certificate pinned by pin.
type httpsBrowser struct {
	t    *testing.T
	name string
	ctx  context.Context
}

// newHTTPSBrowser starts the browser; it closes when the test ends.
func newHTTPSBrowser(t *testing.T, name, pin string) *httpsBrowser {
	t.Helper()
	flags := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("host-resolver-rules", "MAP tandem.test 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", pin),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), flags...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		closeCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Cancel(closeCtx); err != nil {
			t.Logf("%s: close browser: %v", name, err)
		}
		cancelCtx()
		cancelAlloc()
	})
	// Start the browser on ctx itself: a browser started by a Run on a
	// context with a deadline would close when that deadline's cancel runs.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: start browser: %v", name, err)
	}
	return &httpsBrowser{t: t, name: name, ctx: ctx}
}

// run performs actions in the tab within a generous deadline.
func (b *httpsBrowser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
}

// evalBool evaluates a JavaScript expression (awaiting a promise) as a bool.
func evalBool(b *httpsBrowser, expr string) bool {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: evaluate %s: %v", b.name, expr, err)
	}
	return v
}

// waitFor polls a JavaScript predicate until it is true, for up to 60 s.
func (b *httpsBrowser) waitFor(what, predicate string) {
	b.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(async () => Boolean(await (`+predicate+`)))()`, chromedp.EvalAwaitPromise))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		select {
		case <-time.After(200 * time.Millisecond):
		case <-b.ctx.Done():
			b.t.Fatalf("%s: browser gone while waiting for %s", b.name, what)
		}
	}
	status := ""
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	status, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#status')?.textContent ?? ''`))
	b.t.Fatalf("%s: timed out waiting for %s (last error: %v; status %q)", b.name, what, lastErr, status)
}
