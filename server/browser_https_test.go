package server

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tandemchat/tandem/internal/browsertest"
	"github.com/tandemchat/tandem/internal/testlog"
)

// TestBrowsersCallEachOtherOnAnHTTPSName is what issue 7 asks for, seen by
// real browsers: two headless Chromiums open https://tandem.test:PORT/ (a
// name, not localhost), which is a secure context, so each gets its fake
// camera, presses Start, and plays the other's video. The test certificate
// is trusted by its public key hash, and the name resolves to 127.0.0.1 in
// the browser only. The test re-runs itself under `unshare --net`, so the
// browsers reach nothing but this server.
func TestBrowsersCallEachOtherOnAnHTTPSName(t *testing.T) {
	browsertest.RequireChromium(t)
	if !browsertest.RunIsolated(t) {
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
	for _, b := range []*browsertest.Browser{alice, bob} {
		b.Do("open "+url, chromedp.Navigate(url))
		b.WaitFor("the page to load", `document.querySelector('#start') !== null`)
		if !browsertest.Eval[bool](b, `window.isSecureContext && location.protocol === 'https:'`) {
			t.Fatalf("%s: %s is not a secure context", b.Name(), url)
		}
	}
	for _, b := range []*browsertest.Browser{alice, bob} {
		b.Do("press Start", chromedp.Click(chromedp.CSS("#start")))
	}
	for _, b := range []*browsertest.Browser{alice, bob} {
		b.WaitFor("its own camera", `document.querySelector('#local-video').videoWidth > 0`)
		b.WaitFor("the stranger's video to play", `(async () => {
		  const v = document.querySelector('#remote-video');
		  if (v.videoWidth === 0) return false;
		  const t0 = v.currentTime;
		  await new Promise(r => setTimeout(r, 1000));
		  return v.currentTime > t0;
		})()`)
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

// newHTTPSBrowser starts a headless Chromium with a fake camera that
// resolves tandem.test to 127.0.0.1 and trusts the certificate whose public
// key hash is pin; it closes when the test ends.
func newHTTPSBrowser(t *testing.T, name, pin string) *browsertest.Browser {
	t.Helper()
	return browsertest.New(t, name, browsertest.Options{
		WaitLimit: 60 * time.Second,
		Flags: []chromedp.ExecAllocatorOption{
			chromedp.Flag("host-resolver-rules", "MAP tandem.test 127.0.0.1"),
			chromedp.Flag("ignore-certificate-errors-spki-list", pin),
		},
		ReportJS: `'status ' + JSON.stringify(document.querySelector('#status')?.textContent ?? '')`,
	})
}
