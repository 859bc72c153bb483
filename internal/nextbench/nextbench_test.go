package nextbench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/browsertest"
	"github.com/tandemchat/tandem/internal/testlog"
	"github.com/tandemchat/tandem/server"
)

// benchEnv turns TestNextbench on; switchesEnv changes how many Nexts are
// measured (default 15).
const (
	benchEnv    = "TANDEM_NEXTBENCH"
	switchesEnv = "NEXTBENCH_SWITCHES"
)

// TestMain runs the benchmark in a private network namespace with only lo up
// (as root with unshare; see browsertest.ReexecIsolated), so the browsers
// reach nothing but the server.
func TestMain(m *testing.M) {
	if code, reexecuted := browsertest.ReexecIsolated(); reexecuted {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestNextbench measures Next in a browser and fresh peer-to-peer calls, with
// the server's low-latency window after a switch (media.switch_low_latency)
// off and on, in alternating rounds on two servers, and prints the figures.
func TestNextbench(t *testing.T) {
	if os.Getenv(benchEnv) == "" {
		t.Skipf("a benchmark of a few minutes: run it with make nextbench (%s=1)", benchEnv)
	}
	browsertest.RequireChromium(t)
	browsertest.RequireIsolated(t)
	switches := 15
	if s := os.Getenv(switchesEnv); s != "" {
		var err error
		if switches, err = strconv.Atoi(s); err != nil || switches < 1 {
			t.Fatalf("%s=%q: want a whole number above 0", switchesEnv, s)
		}
	}
	modes := []*mode{
		{name: "before: switch_low_latency 0, switch_from_cache false", window: 0},
		{name: "switch_low_latency 1s, switch_from_cache false (the defaults)", window: time.Second},
		{name: "switch_low_latency 1s, switch_from_cache true", window: time.Second, cache: true},
	}
	for _, m := range modes {
		m.url, m.log = startServer(t, m.window, m.cache)
	}
	a := newBrowser(t, "A", "blue")
	b := newBrowser(t, "B", "red")
	c := newBrowser(t, "C", "green")
	const rounds = 3
	for round := range rounds {
		for _, m := range modes {
			n := switches / rounds
			if round < switches%rounds {
				n++
			}
			if n > 0 {
				t.Logf("round %d, %s", round+1, m.name)
				m.run(t, a, b, c, n)
			}
		}
	}
	for _, m := range modes {
		fmt.Print(report(m.name, m.nexts, m.p2ps))
		cached := 0
		for _, s := range m.nexts {
			if s.server.fromCache {
				cached++
			}
		}
		fmt.Printf("A's decoder: %d PLIs and %d freezes over %d Nexts; %d switches replayed from the cache\n",
			m.plis, m.freezes, len(m.nexts), cached)
	}
}

// mode is one server configuration under test, with what was measured on it.
type mode struct {
	name   string
	window time.Duration // media.switch_low_latency
	cache  bool          // media.switch_from_cache
	url    string
	log    *serverLog
	nexts  []nextSample
	p2ps   []float64
	// plis and freezes are A's keyframe requests (a decoder that lost its references asks
	// for one) and freezes over the Nexts, from its getStats.
	plis, freezes int
}

// inbound is A's video receive counters (window.__nx.inbound).
type inbound struct {
	PLIs    int `json:"pliCount"`
	Freezes int `json:"freezeCount"`
}

// run opens the page of m's server in the three browsers, pairs A with B
// while C waits, and measures n Nexts of A, each followed by a fresh
// peer-to-peer call between the other two.
func (m *mode) run(t *testing.T, a, b, c *page, n int) {
	t.Helper()
	for _, p := range []*page{a, b, c} {
		p.open(m.url)
	}
	a.click("start")
	a.waitFor("A searching", `document.body.classList.contains('view-chat')`)
	b.click("start")
	a.waitFor("A talking", `document.body.classList.contains('talking')`)
	b.waitFor("B talking", `document.body.classList.contains('talking')`)
	a.waitFor("B's video at A", `window.__nx.showing() === 'red'`)
	c.click("start")
	c.waitFor("C searching", `document.querySelector('#status').textContent.startsWith('Looking')`)
	aID := browsertest.Eval[string](a.Browser, `window.__nx.userId`)
	origin := browsertest.Eval[float64](a.Browser, `window.__nx.origin()`)

	partner, waiting := b, c
	before := browsertest.Eval[inbound](a.Browser, `window.__nx.inbound()`)
	defer func() {
		after := browsertest.Eval[inbound](a.Browser, `window.__nx.inbound()`)
		m.plis += after.PLIs - before.PLIs
		m.freezes += after.Freezes - before.Freezes
	}()
	for range n {
		// A settles with its partner: a second of its frames, so the switch starts from a
		// call in progress, as a user's Next does.
		browsertest.Eval[bool](a.Browser, `window.__nx.frames(30)`)
		r := browsertest.Eval[nextResult](a.Browser, fmt.Sprintf(`window.__nx.next(%q)`, waiting.colour))
		s := nextSample{page: r}
		pressAt := origin + r.Press
		waitID := browsertest.Eval[string](waiting.Browser, `window.__nx.userId`)
		if tl, ok := waitTimeline(m.log, aID, waitID, pressAt); ok {
			s.server, s.hasServer = tl, true
			s.pairMs = tl.pairAt - pressAt
		}
		m.nexts = append(m.nexts, s)
		t.Logf("next %d: %s", len(m.nexts), s)
		// The one A left looks for someone again, and waits for A's next Next.
		partner.waitFor("stranger left", `!document.body.classList.contains('talking') && !document.querySelector('#next').disabled`)
		partner.click("next")
		partner.waitFor("searching again", `document.querySelector('#status').textContent.startsWith('Looking')`)
		partner, waiting = waiting, partner

		// A fresh peer-to-peer call between the two browsers not switching (both busy
		// with tandem as well, as A is).
		ms := p2pSetup(t, partner, waiting)
		m.p2ps = append(m.p2ps, ms)
		t.Logf("p2p %d: createOffer to first remote frame %.1f ms", len(m.p2ps), ms)
	}
}

// nextResult is what window.__nx.next resolves to (performance.now() times).
type nextResult struct {
	Press      float64  `json:"press"`
	Found      *float64 `json:"found"`     // partner_found arrived
	Received   *float64 `json:"received"`  // the first frame's last packet arrived
	Presented  float64  `json:"presented"` // the frame was handed to the compositor
	Expected   float64  `json:"expected"`  // and was expected on screen
	Processing *float64 `json:"processing"`
	Others     int      `json:"others"` // frames presented in between that were not the new partner's
	Seen       []string `json:"seen"`   // their colours and times, the first 20
}

// waitTimeline waits a little for the server's timeline of A's switch to
// partner, paired after pressAt (unix ms).
func waitTimeline(log *serverLog, peer, partner string, pressAt float64) (switchRecord, bool) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		if s, ok := log.switchOf(peer, partner, pressAt); ok {
			return s, true
		}
		if time.Now().After(deadline) {
			return switchRecord{}, false
		}
		time.Sleep(20 * time.Millisecond) // the line is logged by a media goroutine
	}
}

// p2pSetup sets up a fresh peer-to-peer call from offerer to answerer and
// returns the offerer's time from createOffer to its first remote frame.
func p2pSetup(t *testing.T, offerer, answerer *page) float64 {
	t.Helper()
	offer := browsertest.Eval[string](offerer.Browser, `window.__nx.offer()`)
	answer := browsertest.Eval[string](answerer.Browser, `window.__nx.answer(`+strconv.Quote(offer)+`)`)
	browsertest.Eval[bool](offerer.Browser, `window.__nx.accept(`+strconv.Quote(answer)+`)`)
	ms := browsertest.Eval[float64](offerer.Browser, `window.__nx.firstFrame()`)
	browsertest.Eval[bool](offerer.Browser, `window.__nx.closeP2P()`)
	browsertest.Eval[bool](answerer.Browser, `window.__nx.closeP2P()`)
	return ms
}

// startServer runs a tandem server in this process on loopback (no TURN, no
// limit on Next, media.switch_low_latency and switch_from_cache as given) and
// returns its URL and its log.
func startServer(t *testing.T, window time.Duration, cache bool) (string, *serverLog) {
	t.Helper()
	cfg := config.Default()
	cfg.Moderation.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Media.ICEIPs = []string{"127.0.0.1"}
	cfg.TURN.Addr = ""
	cfg.Signaling.NextPerMinute = 0
	cfg.Media.SwitchLowLatency = window
	cfg.Media.SwitchFromCache = cache
	buf := &testlog.Buffer{}
	buf.PrintOnFailure(t, "server log")
	log := newServerLog(buf)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := server.Start(ctx, cfg, slog.New(log))
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return srv.URL(), log
}

// page is one browser with tandem's page and the probe.
type page struct {
	*browsertest.Browser
	t      *testing.T
	colour string // what its camera shows
}

func newBrowser(t *testing.T, name, colour string) *page {
	t.Helper()
	b := browsertest.New(t, name, browsertest.Options{
		Flags: []chromedp.ExecAllocatorOption{
			chromedp.Flag("use-file-for-fake-video-capture", writeCamera(t, colour)),
		},
	})
	b.AddInitScript("the nextbench probe", probeJS)
	return &page{Browser: b, t: t, colour: colour}
}

func (p *page) open(url string) {
	p.t.Helper()
	p.Do("open "+url, chromedp.Navigate(url))
	p.waitFor("the page", `document.querySelector('#start') !== null && document.body.classList.contains('view-landing')`)
}

// click presses the button with the element id.
func (p *page) click(id string) {
	p.t.Helper()
	browsertest.Eval[bool](p.Browser, fmt.Sprintf(`(document.getElementById(%q).click(), true)`, id))
}

func (p *page) waitFor(what, js string) {
	p.t.Helper()
	p.WaitFor(what, js)
}
