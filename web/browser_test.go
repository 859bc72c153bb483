package web_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/tandemchat/tandem/internal/browsertest"
)

// waitTimeout bounds every wait for something to happen in a page, and the
// server's start. Browsers are slow on a loaded 2-core machine; a generous
// bound costs nothing when things work.
const waitTimeout = browsertest.DefaultWaitLimit

// denyCameraScript makes getUserMedia fail the way a refused permission
// prompt does, before any page script runs.
const denyCameraScript = `(() => {
  const deny = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
  Object.defineProperty(navigator.mediaDevices, 'getUserMedia', { value: deny, configurable: true });
})();`

// holdCameraScript keeps getUserMedia pending, as an unanswered permission
// prompt does, until the test calls window.__tandemAllowCamera(); then the
// page gets the (fake) camera as usual.
const holdCameraScript = `(() => {
  const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  let allow;
  const allowed = new Promise((resolve) => { allow = resolve; });
  Object.defineProperty(window, '__tandemAllowCamera', { value: () => { allow(); } });
  const held = (constraints) => allowed.then(() => real(constraints));
  Object.defineProperty(navigator.mediaDevices, 'getUserMedia', { value: held, configurable: true });
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
	// holdCamera keeps the page's camera request unanswered until the test
	// calls window.__tandemAllowCamera() (see holdCameraScript).
	holdCamera bool
	// width and height of the window; 0 means 1280x800.
	width, height int
}

// browser is one headless Chromium with one tab (see package browsertest)
// that knows tandem's page.
type browser struct {
	*browsertest.Browser
	t *testing.T
}

// requireBrowser skips the test unless Chromium is installed and the test
// runs in a private network namespace (see TestMain).
func requireBrowser(t *testing.T) {
	t.Helper()
	browsertest.RequireChromium(t)
	browsertest.RequireIsolated(t)
}

// newBrowser starts a Chromium for the test, with the page instrumented (see
// instrumentScript); it closes when the test ends.
func newBrowser(t *testing.T, name string, opts browserOptions) *browser {
	t.Helper()
	var flags []chromedp.ExecAllocatorOption
	if opts.camera != "" {
		flags = append(flags, chromedp.Flag("use-file-for-fake-video-capture", writeFakeCamera(t, t.TempDir(), opts.camera)))
	}
	b := &browser{t: t, Browser: browsertest.New(t, name, browsertest.Options{
		Width:    opts.width,
		Height:   opts.height,
		Flags:    flags,
		ReportJS: pageStateJS,
	})}
	b.AddInitScript("instrument the page", instrumentScript)
	if opts.denyCamera {
		b.AddInitScript("deny the camera", denyCameraScript)
	}
	if opts.holdCamera {
		b.AddInitScript("hold the camera request", holdCameraScript)
	}
	return b
}

// pageStateJS describes tandem's page for failure reports.
const pageStateJS = `JSON.stringify({
  status: document.querySelector('#status')?.textContent,
  note: document.querySelector('#media-note')?.textContent,
  view: document.body.className,
  messages: [...document.querySelectorAll('#messages li')].map((li) => li.textContent),
  statuses: window.__tandemProbe?.statuses,
  banner: document.querySelector('#banner')?.textContent,
  remote: (() => { const v = document.querySelector('#remote-video'); return v && {w: v.videoWidth, t: v.currentTime, ready: v.readyState, paused: v.paused}; })(),
})`

// eval evaluates a JavaScript expression (awaiting a promise) into T.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	return browsertest.Eval[T](b.Browser, expr)
}

// open loads the page and waits until its modules have run.
func (b *browser) open(url string) {
	b.t.Helper()
	b.Do("open "+url, chromedp.Navigate(url))
	b.WaitFor("the page to start", `document.querySelector('#start') !== null && document.body.classList.contains('view-landing')`)
}

// click presses the button whose accessible name is name (its text, or its
// aria-label when it has one).
func (b *browser) click(name string) {
	b.t.Helper()
	xpath := fmt.Sprintf(`//button[@aria-label=%q or (not(@aria-label) and normalize-space(.)=%q)]`, name, name)
	b.Do("click "+name, chromedp.Click(chromedp.Search(xpath)))
}

// typeText focuses the element and inserts text as typing would (one input
// event), in one protocol call rather than three key events per character,
// which crawl on a loaded machine.
func (b *browser) typeText(selector, text string) {
	b.t.Helper()
	b.Do("type into "+selector, chromedp.Focus(chromedp.CSS(selector)), chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: text})
		return err
	}))
}

// press sends key presses (see package kb) to the focused element.
func (b *browser) press(keys string) {
	b.t.Helper()
	b.Do("press keys", chromedp.KeyEvent(keys))
}

// waitStatus waits until the status line says exactly text.
func (b *browser) waitStatus(text string) {
	b.t.Helper()
	b.WaitFor(fmt.Sprintf("status %q", text), fmt.Sprintf(`document.querySelector('#status').textContent === %q`, text))
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
	b.WaitFor(selector+" playing", fmt.Sprintf(`(async () => {
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
	b.WaitFor(fmt.Sprintf("%s showing %s", selector, c), fmt.Sprintf(`%s(%q) === %q`, videoColorJS, selector, string(c)))
}
