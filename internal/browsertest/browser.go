// Package browsertest drives headless Chromium for tandem's browser tests:
// it starts a browser with the flags known to work on this machine (fake
// camera and microphone, loopback ICE candidates, no mDNS names) plus a
// test's own, evaluates JavaScript in its tab, waits for a predicate with a
// deadline, and runs tests in a private network namespace (isolate.go) so
// the browsers reach nothing but the test's server. It is imported by tests
// only.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ChromiumPath is where Debian's chromium package installs the browser.
const ChromiumPath = "/usr/bin/chromium"

// DefaultWaitLimit bounds each Do, Eval and WaitFor unless Options says
// otherwise. Browsers are slow on a loaded 2-core machine; a generous bound
// costs nothing when things work.
const DefaultWaitLimit = 45 * time.Second

// pollInterval is how often WaitFor evaluates its predicate again.
const pollInterval = 150 * time.Millisecond

// Options chooses what one test browser brings. The zero value is a
// 1280x800 window with a fake camera showing Chromium's test pattern.
type Options struct {
	// Width and Height of the window; 0 means 1280x800.
	Width, Height int
	// WaitLimit bounds each Do, Eval and WaitFor; 0 means DefaultWaitLimit.
	WaitLimit time.Duration
	// Flags are this browser's extra command-line flags, such as
	// chromedp.Flag("use-file-for-fake-video-capture", path) or a
	// certificate pin; they come after the common ones.
	Flags []chromedp.ExecAllocatorOption
	// ReportJS is a JavaScript expression returning a string that describes
	// the page for failure messages; "" reports the console only.
	ReportJS string
}

// Browser is one headless Chromium with one tab, driven by chromedp. It
// closes when the test that made it ends. Its methods are meant for the
// test's goroutine (they call t.Fatalf); console output is recorded from
// chromedp's event goroutine under a mutex.
type Browser struct {
	t        testing.TB
	name     string
	ctx      context.Context
	limit    time.Duration
	reportJS string

	mu      sync.Mutex
	console []string // console messages and uncaught exceptions, for failure reports
}

// RequireChromium skips the test with -short or when Chromium is not
// installed.
func RequireChromium(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests are slow; skipped with -short")
	}
	if _, err := os.Stat(ChromiumPath); err != nil {
		t.Skipf("Chromium not installed at %s (apt-get install chromium): %v", ChromiumPath, err)
	}
}

// New starts a Chromium named name (for messages) for the test.
func New(t testing.TB, name string, opts Options) *Browser {
	t.Helper()
	if opts.Width == 0 {
		opts.Width, opts.Height = 1280, 800
	}
	if opts.WaitLimit == 0 {
		opts.WaitLimit = DefaultWaitLimit
	}
	flags := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ChromiumPath),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.WindowSize(opts.Width, opts.Height),
		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		// chromedp's defaults disable Translate and BlinkGenPropertyTrees:
		// keep them, and show host candidates without mDNS names.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
	)
	flags = append(flags, opts.Flags...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), flags...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	b := &Browser{t: t, name: name, ctx: ctx, limit: opts.WaitLimit, reportJS: opts.ReportJS}
	t.Cleanup(func() {
		closeCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Cancel(closeCtx); err != nil {
			t.Logf("%s: close browser: %v", name, err)
		}
		cancelCtx()
		cancelAlloc()
	})
	// Listen starts the browser on ctx itself: a browser started by a call
	// on a context with a deadline would close when that deadline's cancel
	// runs.
	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatalf("%s: start browser: %v", name, err)
	}
	return b
}

// Name is the name the browser was made with.
func (b *Browser) Name() string { return b.name }

// Context is the browser's chromedp context, for calls this package does not
// wrap; bound it with a deadline.
func (b *Browser) Context() context.Context { return b.ctx }

// WaitLimit is the bound of each Do, Eval and WaitFor of this browser.
func (b *Browser) WaitLimit() time.Duration { return b.limit }

// AddInitScript runs source in every document of the tab before its own
// scripts; what says what it is for, in failure messages.
func (b *Browser) AddInitScript(what, source string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.limit)
	defer cancel()
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: source})
	if err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
}

// Do runs actions in the tab, failing the test with what for context.
func (b *Browser) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.limit)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %s: %v\n%s", b.name, what, err, b.Report())
	}
}

// Eval evaluates a JavaScript expression (awaiting a promise) into T, failing
// the test if it throws or does not finish within the browser's WaitLimit.
func Eval[T any](b *Browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.limit)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: evaluate %s: %v\n%s", b.name, expr, err, b.Report())
	}
	return v
}

// WaitFor polls a JavaScript predicate (which may return a promise) until it
// is true, failing the test after the browser's WaitLimit; what names the
// awaited event in the failure message.
func (b *Browser) WaitFor(what, predicate string) {
	b.t.Helper()
	deadline := time.Now().Add(b.limit)
	ticker := time.NewTicker(pollInterval)
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
	b.t.Fatalf("%s: timed out after %v waiting for %s (last error: %v)\n%s", b.name, b.limit, what, lastErr, b.Report())
}

// Report describes the page (see Options.ReportJS) and its console output,
// for a failure message.
func (b *Browser) Report() string {
	state := "(no page report)"
	if b.reportJS != "" {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		var err error
		state, err = chromedp.Run(ctx, chromedp.Evaluate[string](b.reportJS))
		if err != nil {
			state = "page state unavailable: " + err.Error()
		}
	}
	return fmt.Sprintf("--- %s page: %s\n--- %s console:\n%s", b.name, state, b.name, b.Console())
}

// Console returns what the page has logged so far: console messages and
// uncaught exceptions, one a line.
func (b *Browser) Console() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.console, "\n")
}

// record keeps console output and exceptions of the page; chromedp calls it
// from its event goroutine.
func (b *Browser) record(ev any) {
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
