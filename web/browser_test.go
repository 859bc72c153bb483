package web_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

// waitTimeout bounds every wait for something to happen in a page. Browsers
// are slow on a loaded 2-core machine; a generous bound costs nothing when
// things work.
const waitTimeout = 45 * time.Second

// denyCameraScript makes getUserMedia fail the way a refused permission
// prompt does, before any page script runs.
const denyCameraScript = `(() => {
  const deny = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
  Object.defineProperty(navigator.mediaDevices, 'getUserMedia', { value: deny, configurable: true });
})();`

// instrumentScript counts, for the tests, the RTCPeerConnections the page
// creates, the SDP offers it sends and the fetches of /ws (asking why a
// socket was refused), keeps its WebSockets so a test can drop one or read
// its URL, and records every text the status line showed and how often the
// typing indicator and the Esc hint appeared (all may change faster than a
// test can poll on a loaded machine). It wraps the browser's own classes and changes nothing else.
const instrumentScript = `(() => {
  const probe = { peerConnections: 0, offers: 0, wsFetches: 0, sockets: [], statuses: [], pcs: [], shown: {} };
  Object.defineProperty(window, '__tandemProbe', { value: probe });
  document.addEventListener('DOMContentLoaded', () => {
    const status = document.querySelector('#status');
    if (!status) return;
    new MutationObserver(() => probe.statuses.push(status.textContent))
      .observe(status, { childList: true, characterData: true, subtree: true });
    for (const id of ['typing', 'esc-hint']) {
      const el = document.getElementById(id);
      probe.shown[id] = 0;
      new MutationObserver(() => { if (!el.hidden) probe.shown[id]++; })
        .observe(el, { attributes: true, attributeFilter: ['hidden'] });
    }
  });
  const PC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends PC {
    constructor(...args) { super(...args); probe.peerConnections++; probe.pcs.push(this); }
  };
  const fetch0 = window.fetch;
  window.fetch = function (input, init) {
    const url = new URL(input instanceof Request ? input.url : String(input), location.href);
    if (url.pathname === '/ws') probe.wsFetches++;
    return fetch0.call(this, input, init);
  };
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...args) { super(...args); probe.sockets.push(this); }
    send(data) {
      try { if (JSON.parse(data).type === 'webrtc_offer') probe.offers++; } catch {}
      return super.send(data);
    }
  };
})();`

// browserOptions chooses what one test browser brings.
type browserOptions struct {
	// camera is the solid colour the fake camera shows; see writeFakeCamera.
	camera fakeColor
	// denyCamera makes every getUserMedia call fail with NotAllowedError.
	denyCamera bool
	// width and height of the window; 0 means 1280x800.
	width, height int
}

// browser is one headless Chromium with one tab, driven by chromedp.
type browser struct {
	t    *testing.T
	name string
	ctx  context.Context

	mu      sync.Mutex
	console []string // console messages and uncaught exceptions, for failure reports
}

// requireBrowser skips the test unless Chromium is installed and the test
// runs in a private network namespace (see TestMain).
func requireBrowser(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests are slow; skipped with -short")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("Chromium not installed at %s (apt-get install chromium): %v", chromiumPath, err)
	}
	if os.Getenv(netnsEnv) == "" {
		t.Skipf("browser tests run only in a private network namespace: run them as root with unshare available, "+
			"or isolate the test yourself and set %s=1", netnsEnv)
	}
}

// newBrowser starts a Chromium for the test; it closes when the test ends.
func newBrowser(t *testing.T, name string, opts browserOptions) *browser {
	t.Helper()
	if opts.width == 0 {
		opts.width, opts.height = 1280, 800
	}
	dir := t.TempDir()
	flags := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.WindowSize(opts.width, opts.height),
		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
	)
	if opts.camera != "" {
		flags = append(flags, chromedp.Flag("use-file-for-fake-video-capture", writeFakeCamera(t, dir, opts.camera)))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), flags...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	b := &browser{t: t, name: name, ctx: ctx}
	t.Cleanup(func() {
		closeCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Cancel(closeCtx); err != nil {
			t.Logf("%s: close browser: %v", name, err)
		}
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatalf("%s: start browser: %v", name, err)
	}
	b.addInitScript("instrument the page", instrumentScript)
	if opts.denyCamera {
		b.addInitScript("deny the camera", denyCameraScript)
	}
	return b
}

// addInitScript runs source in every document of the tab before its scripts.
func (b *browser) addInitScript(what, source string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitTimeout)
	defer cancel()
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: source})
	if err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
}

// record keeps console output and exceptions of the page for failure reports.
func (b *browser) record(ev any) {
	var line string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		parts := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			if a.Value != nil {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		line = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " "))
	case *runtime.EventExceptionThrown:
		line = "exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			line += " " + ev.ExceptionDetails.Exception.Description
		}
	default:
		return
	}
	b.mu.Lock()
	b.console = append(b.console, line)
	b.mu.Unlock()
}

// consoleLog returns what the page has logged so far.
func (b *browser) consoleLog() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.console, "\n")
}

// do runs actions in the tab, failing the test with what for context.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %s: %v\n%s", b.name, what, err, b.report())
	}
}

// open loads the page and waits until its modules have run.
func (b *browser) open(url string) {
	b.t.Helper()
	b.do("open "+url, chromedp.Navigate(url))
	b.waitFor("the page to start", `document.querySelector('#start') !== null && document.body.classList.contains('view-landing')`)
}

// click presses the button whose accessible name is name (its text, or its
// aria-label when it has one).
func (b *browser) click(name string) {
	b.t.Helper()
	xpath := fmt.Sprintf(`//button[@aria-label=%q or (not(@aria-label) and normalize-space(.)=%q)]`, name, name)
	b.do("click "+name, chromedp.Click(chromedp.Search(xpath)))
}

// typeText focuses the element and inserts text as typing would (one input
// event), in one protocol call rather than three key events per character,
// which crawl on a loaded machine.
func (b *browser) typeText(selector, text string) {
	b.t.Helper()
	b.do("type into "+selector, chromedp.Focus(chromedp.CSS(selector)), chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: text})
		return err
	}))
}

// press sends key presses (see package kb) to the focused element.
func (b *browser) press(keys string) {
	b.t.Helper()
	b.do("press keys", chromedp.KeyEvent(keys))
}

// eval evaluates a JavaScript expression (awaiting a promise) into T.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: evaluate %s: %v\n%s", b.name, expr, err, b.report())
	}
	return v
}

// waitFor polls a JavaScript predicate (which may return a promise) until it
// is true, failing the test after waitTimeout.
func (b *browser) waitFor(what, predicate string) {
	b.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	ticker := time.NewTicker(150 * time.Millisecond)
	defer ticker.Stop()
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
		case <-ticker.C:
		case <-b.ctx.Done():
			b.t.Fatalf("%s: browser gone while waiting for %s", b.name, what)
		}
	}
	b.t.Fatalf("%s: timed out after %v waiting for %s (last error: %v)\n%s", b.name, waitTimeout, what, lastErr, b.report())
}

// waitStatus waits until the status line says exactly text.
func (b *browser) waitStatus(text string) {
	b.t.Helper()
	b.waitFor(fmt.Sprintf("status %q", text), fmt.Sprintf(`document.querySelector('#status').textContent === %q`, text))
}

// report describes the page for a failure message.
func (b *browser) report() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
	  status: document.querySelector('#status')?.textContent,
	  note: document.querySelector('#media-note')?.textContent,
	  view: document.body.className,
	  messages: [...document.querySelectorAll('#messages li')].map((li) => li.textContent),
	  statuses: window.__tandemProbe?.statuses,
	  banner: document.querySelector('#banner')?.textContent,
	  remote: (() => { const v = document.querySelector('#remote-video'); return v && {w: v.videoWidth, t: v.currentTime, ready: v.readyState, paused: v.paused}; })(),
	})`))
	if err != nil {
		state = "page state unavailable: " + err.Error()
	}
	return fmt.Sprintf("--- %s page: %s\n--- %s console:\n%s", b.name, state, b.name, b.consoleLog())
}

// fakeColor names a solid colour for a fake camera.
type fakeColor string

const (
	red   fakeColor = "red"
	green fakeColor = "green"
	blue  fakeColor = "blue"
	// black is what a camera that was turned off sends; no fake camera shows it.
	black fakeColor = "black"
)

// yuv holds each colour in BT.601 full-range Y'CbCr, as Chromium's
// Y4M reader expects.
var yuv = map[fakeColor][3]byte{
	red:   {76, 85, 255},
	green: {150, 44, 21},
	blue:  {29, 255, 107},
}

// writeFakeCamera writes a short Y4M clip of one solid colour with a small
// moving white square (so every frame differs), for Chromium's
// --use-file-for-fake-video-capture, and returns its path.
func writeFakeCamera(t *testing.T, dir string, c fakeColor) string {
	t.Helper()
	const w, h, frames = 160, 120, 30
	col, ok := yuv[c]
	if !ok {
		t.Fatalf("no fake camera colour %q", c)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "YUV4MPEG2 W%d H%d F15:1 Ip A1:1 C420jpeg\n", w, h)
	for f := 0; f < frames; f++ {
		buf.WriteString("FRAME\n")
		x0, y0 := 8+f*3, 8
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				if x >= x0 && x < x0+12 && y >= y0 && y < y0+12 {
					buf.WriteByte(235)
				} else {
					buf.WriteByte(col[0])
				}
			}
		}
		buf.Write(bytes.Repeat([]byte{col[1]}, w*h/4))
		buf.Write(bytes.Repeat([]byte{col[2]}, w*h/4))
	}
	path := filepath.Join(dir, string(c)+".y4m")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatalf("write fake camera: %v", err)
	}
	return path
}

// videoColorJS samples the middle of a video element and names the colour
// of its average: "red", "green", "blue", "black" (a camera turned off),
// "" before any frame, or the average itself when none fits.
const videoColorJS = `((sel) => {
  const v = document.querySelector(sel);
  if (!v || v.videoWidth === 0) return '';
  const c = document.createElement('canvas');
  c.width = 32; c.height = 24;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0, 32, 24);
  const d = g.getImageData(8, 6, 16, 12).data;
  let r = 0, gr = 0, b = 0;
  for (let i = 0; i < d.length; i += 4) { r += d[i]; gr += d[i + 1]; b += d[i + 2]; }
  const n = d.length / 4; r /= n; gr /= n; b /= n;
  if (r < 40 && gr < 40 && b < 40) return 'black';
  if (r > 1.5 * gr && r > 1.5 * b) return 'red';
  if (gr > 1.5 * r && gr > 1.5 * b) return 'green';
  if (b > 1.5 * r && b > 1.5 * gr) return 'blue';
  return 'rgb(' + [r, gr, b].map(Math.round).join(',') + ')';
})`

// waitVideoPlaying waits until the video element really plays: it has a size
// and its currentTime advances over a second.
func (b *browser) waitVideoPlaying(selector string) {
	b.t.Helper()
	b.waitFor(selector+" playing", fmt.Sprintf(`(async () => {
	  const v = document.querySelector(%q);
	  if (!v || v.videoWidth === 0) return false;
	  const t0 = v.currentTime;
	  await new Promise((r) => setTimeout(r, 1000));
	  return v.videoWidth > 0 && v.currentTime > t0;
	})()`, selector))
}

// waitVideoColor waits until the video element shows the colour of the fake
// camera c, which tells which browser's camera it is.
func (b *browser) waitVideoColor(selector string, c fakeColor) {
	b.t.Helper()
	b.waitFor(fmt.Sprintf("%s showing %s", selector, c), fmt.Sprintf(`%s(%q) === %q`, videoColorJS, selector, string(c)))
}
