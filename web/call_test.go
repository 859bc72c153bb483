package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/testlog"
	"github.com/tandemchat/tandem/server"
)

// Status line texts the page must show (issue 5).
const (
	statusSearching = "Looking for someone"
	statusTalking   = "You're talking to a stranger"
	statusLeft      = "Stranger left"
	statusReconnect = "Reconnecting"
)

// startServer runs a whole tandem server on loopback for one test, with all
// media on 127.0.0.1 and no TURN (browser and server share the namespace);
// tweak, if given, changes the configuration first. The server's log is
// printed only if the test fails.
func startServer(t *testing.T, tweak ...func(*config.Config)) *server.Server {
	t.Helper()
	cfg := config.Default()
	cfg.Moderation.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Media.ICEIPs = []string{"127.0.0.1"}
	cfg.TURN.Addr = ""
	for _, f := range tweak {
		f(&cfg)
	}
	logger, _ := testlog.NewLogger(t, "server log", slog.LevelInfo)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	srv, err := server.Start(ctx, cfg, logger)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return srv
}

// pair opens the page in both browsers and presses Start in a, then b, and
// waits until both talk to each other.
func pair(url string, a, b *browser) {
	a.t.Helper()
	a.open(url)
	b.open(url)
	a.click("Start")
	a.waitStatus(statusSearching)
	b.click("Start")
	a.waitStatus(statusTalking)
	b.waitStatus(statusTalking)
}

// dropSocket closes dropped's WebSocket the way a network hiccup would (no
// goodbye), and waits until its partner is told the stranger left and
// dropped, having said it reconnects, is looking for someone again.
func dropSocket(dropped, partner *browser) {
	dropped.t.Helper()
	eval[bool](dropped, `(window.__tandemProbe.sockets.at(-1).close(), true)`)
	partner.waitStatus(statusLeft)
	dropped.waitStatus(statusSearching)
	dropped.WaitFor("the status to have said "+statusReconnect, fmt.Sprintf(
		`window.__tandemProbe.statuses.includes(%q)`, statusReconnect))
}

// typeMessage types text into the Message box and sends it with Enter.
func (b *browser) typeMessage(text string) {
	b.t.Helper()
	b.typeText("#message", text)
	b.press(kb.Enter)
}

// waitMessage waits until the last chat message is from who with text.
func (b *browser) waitMessage(who, text string) {
	b.t.Helper()
	b.WaitFor(fmt.Sprintf("a message from %s: %q", who, text), fmt.Sprintf(`(() => {
	  const items = document.querySelectorAll('#messages li.message');
	  const last = items[items.length - 1];
	  return !!last && last.querySelector('.who').textContent === %q &&
	    last.querySelector('.text').textContent === %q && !!last.querySelector('time[datetime]');
	})()`, who, text))
}

// probe reads a counter of the instrumentation script (see instrumentScript).
func (b *browser) probe(name string) int {
	b.t.Helper()
	return eval[int](b, "window.__tandemProbe."+name)
}

// fastPathPackets reads the SFU's fastPathPackets and fastPathPacketsSent counters from
// /api/stats: packets the SFU decrypted and encrypted itself.
func fastPathPackets(t *testing.T, url string) (received, sent uint64) {
	t.Helper()
	resp, err := http.Get(url + "/api/stats")
	if err != nil {
		t.Fatalf("get stats: %v", err)
	}
	defer resp.Body.Close()
	var stats struct {
		Media struct {
			FastPathPackets     uint64 `json:"fastPathPackets"`
			FastPathPacketsSent uint64 `json:"fastPathPacketsSent"`
		} `json:"media"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatalf("decode stats: %v", err)
	}
	return stats.Media.FastPathPackets, stats.Media.FastPathPacketsSent
}

// saveScreenshot writes the visible page to path.
func (b *browser) saveScreenshot(path string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), waitTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("%s: screenshot: %v", b.Name(), err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatalf("save screenshot: %v", err)
	}
}

func TestTwoStrangersSeeEachOtherAndChat(t *testing.T) {
	requireBrowser(t)
	url := startServer(t).URL()
	alice := newBrowser(t, "alice", browserOptions{camera: red})
	// Bob keeps Chromium's own animated test camera: it makes a livelier
	// screenshot than a solid colour.
	bob := newBrowser(t, "bob", browserOptions{})
	alice.open(url)
	bob.open(url)
	alice.typeText("#interests", "Chess, music")
	bob.typeText("#interests", "music, hiking")
	alice.click("Start")
	alice.waitStatus(statusSearching)
	bob.click("Start")
	alice.waitStatus(statusTalking)
	bob.waitStatus(statusTalking)

	for _, b := range []*browser{alice, bob} {
		if got := eval[string](b, `document.querySelector('#common-interests').textContent`); got != "You both like: music" {
			t.Errorf("%s: shared interests = %q, want %q", b.Name(), got, "You both like: music")
		}
		b.waitVideoPlaying("#remote-video")
	}
	bob.waitVideoColor("#remote-video", red)
	bob.WaitFor("the stranger's video to be shown", `getComputedStyle(document.querySelector('#remote-video')).opacity === '1'`)
	// The SFU decrypted Chromium's media itself, and encrypted what Chromium showed: the SRTP
	// keys it rebuilds from the DTLS handshake (docs/sfu.md, the fast paths) fit a browser's.
	if received, sent := fastPathPackets(t, url); received == 0 || sent == 0 {
		t.Errorf("%d packets received and %d sent on the SFU's fast paths during a browser call, want both above 0",
			received, sent)
	}

	alice.typeText("#message", "hi! where are you from?")
	bob.WaitFor("the typing indicator", `window.__tandemProbe.shown['typing'] > 0`)
	alice.press(kb.Enter)
	bob.waitMessage("Stranger", "hi! where are you from?")
	alice.waitMessage("You", "hi! where are you from?")
	bob.WaitFor("the typing indicator to go", `document.querySelector('#typing').hidden`)
	bob.typeMessage("hello from the other side :)")
	alice.waitMessage("Stranger", "hello from the other side :)")
	alice.WaitFor("the online count", `document.querySelector('#online').textContent === '2 online'`)
	alice.saveScreenshot(filepath.Join("..", "docs", "screenshot.png"))

	// Markup in a message is shown as text: nothing is parsed on either side.
	hostile := `<b>bold</b> & <img src=x onerror="window.__pwned=1">`
	bob.typeMessage(hostile)
	alice.waitMessage("Stranger", hostile)
	bob.waitMessage("You", hostile)
	for _, b := range []*browser{alice, bob} {
		if eval[bool](b, `document.querySelector('#messages img, #messages b') !== null || window.__pwned === 1`) {
			t.Errorf("%s: a chat message was parsed as HTML\n%s", b.Name(), b.Report())
		}
	}
}

// With the media settings of configs/production.yaml (one muxed UDP port, ICE over TCP) a
// browser call also goes through the SFU's fast paths: the muxed port's pollers hand each
// browser's media to its peer by client address.
func TestStrangersTalkOverTheMuxedUDPPort(t *testing.T) {
	requireBrowser(t)
	udpPort, tcpPort := freePort(t, "udp"), freePort(t, "tcp")
	url := startServer(t, func(c *config.Config) {
		c.Media.UDPMuxPort = udpPort
		c.Media.TCPPort = tcpPort
	}).URL()
	alice := newBrowser(t, "alice", browserOptions{camera: red})
	bob := newBrowser(t, "bob", browserOptions{camera: green})
	pair(url, alice, bob)
	alice.waitVideoColor("#remote-video", green)
	bob.waitVideoColor("#remote-video", red)
	if received, sent := fastPathPackets(t, url); received == 0 || sent == 0 {
		t.Errorf("%d packets received and %d sent on the SFU's fast paths over the muxed port, want both above 0",
			received, sent)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "tcp" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).Port
}

func TestNextFindsTheWaitingStrangerWithoutReload(t *testing.T) {
	requireBrowser(t)
	url := startServer(t).URL()
	alice := newBrowser(t, "alice", browserOptions{camera: red})
	bob := newBrowser(t, "bob", browserOptions{camera: green})
	carol := newBrowser(t, "carol", browserOptions{camera: blue})
	pair(url, alice, bob)
	alice.waitVideoColor("#remote-video", green)
	eval[bool](alice, `(window.__samePage = true)`)

	carol.open(url)
	carol.click("Start")
	carol.waitStatus(statusSearching)

	alice.click("Next")
	bob.waitStatus(statusLeft)
	alice.waitStatus(statusTalking)
	carol.waitStatus(statusTalking)
	alice.waitVideoColor("#remote-video", blue)
	alice.waitVideoPlaying("#remote-video")
	alice.WaitFor("the new stranger's video to be shown", `document.querySelector('#remote').classList.contains('live') &&
	  getComputedStyle(document.querySelector('#remote-video')).opacity === '1'`)
	carol.waitVideoColor("#remote-video", red)
	if !eval[bool](alice, `window.__samePage === true`) {
		t.Fatal("alice's page was reloaded by Next")
	}
	if pcs, offers := alice.probe("peerConnections"), alice.probe("offers"); pcs != 1 || offers != 1 {
		t.Errorf("alice used %d RTCPeerConnections and sent %d offers over two partners, want 1 and 1", pcs, offers)
	}

	// Esc once only arms; Esc again within a few seconds goes next.
	carol.press(kb.Escape)
	carol.WaitFor("the Esc hint", `window.__tandemProbe.shown['esc-hint'] > 0`)
	if got := eval[string](carol, `document.querySelector('#status').textContent`); got != statusTalking {
		t.Fatalf("carol's status after one Esc = %q, want still %q", got, statusTalking)
	}
	// The confirming press: sent as a quick double press, so a slow machine
	// cannot let the first press's few seconds run out in between.
	carol.press(kb.Escape + kb.Escape)
	carol.waitStatus(statusSearching)
	alice.waitStatus(statusLeft)

	// Bob, left alone earlier, starts again on the same page and meets Carol.
	bob.click("Start")
	bob.waitStatus(statusTalking)
	carol.waitStatus(statusTalking)
	bob.waitVideoColor("#remote-video", blue)
	carol.waitVideoColor("#remote-video", green)
}

func TestDeniedCameraStillWatchesAndChats(t *testing.T) {
	requireBrowser(t)
	url := startServer(t).URL()
	shy := newBrowser(t, "camera-shy", browserOptions{denyCamera: true})
	// Dave is on a phone-sized screen.
	dave := newBrowser(t, "dave", browserOptions{camera: red, width: 390, height: 844})
	pair(url, shy, dave)

	note := eval[string](shy, `document.querySelector('#media-note').textContent`)
	if note != "Camera access was denied. You can still watch and chat by text." {
		t.Errorf("camera-shy's note = %q, want the denial explained", note)
	}
	if !eval[bool](shy, `document.querySelector('#mute').disabled && document.querySelector('#camera').disabled`) {
		t.Errorf("camera-shy can press Mute or Camera off without any media\n%s", shy.Report())
	}
	shy.waitVideoPlaying("#remote-video")
	shy.waitVideoColor("#remote-video", red)

	shy.typeMessage("no camera here, but hi")
	dave.waitMessage("Stranger", "no camera here, but hi")
	dave.typeMessage("I can read you")
	shy.waitMessage("Stranger", "I can read you")

	// The phone layout: nothing scrolls sideways and everything needed for a
	// chat is on the page at a usable size.
	phone := map[string]string{
		"no sideways scrolling":                `document.documentElement.scrollWidth <= window.innerWidth`,
		"the stranger's video fills the width": `document.querySelector('#remote-video').getBoundingClientRect().width >= 300`,
		"the controls are visible": `['#remote-video', '#local-video', '#status', '#message', '#next', '#stop']
		  .every((s) => document.querySelector(s).checkVisibility())`,
	}
	for what, js := range phone {
		if !eval[bool](dave, js) {
			t.Errorf("dave's phone layout: %s: false\n%s", what, dave.Report())
		}
	}

	// Camera off sends black frames; camera on again restores the picture.
	dave.click("Camera off")
	shy.waitVideoColor("#remote-video", black)
	if !eval[bool](dave, `document.querySelector('#camera').getAttribute('aria-pressed') === 'true'`) {
		t.Errorf("Camera off is not shown as pressed\n%s", dave.Report())
	}
	dave.click("Camera off")
	shy.waitVideoColor("#remote-video", red)
	dave.click("Mute")
	if !eval[bool](dave, `document.querySelector('#local-video').srcObject.getAudioTracks().every((t) => !t.enabled)`) {
		t.Errorf("Mute left the microphone on\n%s", dave.Report())
	}
	dave.click("Mute")

	// Another microphone replaces the track on the same sender: the stranger
	// keeps receiving audio and nothing is renegotiated.
	eval[bool](dave, `(() => {
	  const s = document.querySelector('#mic-select');
	  s.value = [...s.options].find((o) => o.textContent === 'Fake Audio Input 1').value;
	  return s.dispatchEvent(new Event('change'));
	})()`)
	dave.WaitFor("the new microphone on the sender", `window.__tandemProbe.pcs.at(-1).getSenders()
	  .some((s) => s.track?.kind === 'audio' && s.track.label === 'Fake Audio Input 1' && s.track.enabled)`)
	const audioPackets = `window.__tandemProbe.pcs.at(-1).getStats().then((stats) => {
	  let n = 0;
	  stats.forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'audio') n = r.packetsReceived; });
	  return n;
	})`
	before := eval[int](shy, audioPackets)
	shy.WaitFor("audio to keep arriving", fmt.Sprintf(`%s.then((n) => n > %d + 50)`, audioPackets, before))
	if offers := dave.probe("offers"); offers != 1 {
		t.Errorf("dave sent %d offers, want 1: switching devices must not renegotiate", offers)
	}

	// Stop ends the chat and goes back to the landing view; the stranger is told.
	shy.click("Stop")
	shy.WaitFor("the landing view", `document.body.classList.contains('view-landing') &&
	  document.querySelector('#start').checkVisibility()`)
	dave.waitStatus(statusLeft)
	dave.WaitFor("the chat input to close", `document.querySelector('#message').disabled`)
}

func TestDroppedSocketReconnectsAndSaysSo(t *testing.T) {
	requireBrowser(t)
	url := startServer(t).URL()
	alice := newBrowser(t, "alice", browserOptions{camera: red})
	bob := newBrowser(t, "bob", browserOptions{camera: green})
	pair(url, alice, bob)
	alice.waitVideoColor("#remote-video", green)

	// Drop alice's socket the way a network hiccup would: no goodbye.
	dropSocket(alice, bob)
	if n := len(eval[[]any](alice, `window.__tandemProbe.sockets`)); n != 2 {
		t.Errorf("alice opened %d WebSockets, want 2 (one reconnect)", n)
	}

	bob.click("Next")
	alice.waitStatus(statusTalking)
	bob.waitStatus(statusTalking)
	alice.waitVideoColor("#remote-video", green)
	alice.waitVideoPlaying("#remote-video")
	if pcs := alice.probe("peerConnections"); pcs != 2 {
		t.Errorf("alice created %d RTCPeerConnections, want 2 (a fresh one after the reconnect)", pcs)
	}
}

// TestFailedMediaReconnectsWithAFreshPeerConnection closes alice's
// RTCPeerConnection under the page, as a crashed media stack would: bob is
// told the video connection failed, and alice's page starts over with a new
// socket and PeerConnection and finds bob again with working video.
func TestFailedMediaReconnectsWithAFreshPeerConnection(t *testing.T) {
	requireBrowser(t)
	url := startServer(t).URL()
	alice := newBrowser(t, "alice", browserOptions{camera: red})
	bob := newBrowser(t, "bob", browserOptions{camera: green})
	pair(url, alice, bob)
	alice.waitVideoColor("#remote-video", green)

	eval[bool](alice, `(window.__tandemProbe.pcs.at(-1).close(), true)`)
	bob.waitStatus(statusLeft)
	bob.WaitFor("bob to be told the media failed", `[...document.querySelectorAll('#messages li')]
	  .some((li) => li.textContent.includes('The video connection to the stranger failed'))`)
	alice.WaitFor("alice to open a second WebSocket", `window.__tandemProbe.sockets.length === 2`)
	alice.waitStatus(statusSearching)

	bob.click("Next")
	alice.waitStatus(statusTalking)
	bob.waitStatus(statusTalking)
	alice.waitVideoColor("#remote-video", green)
	bob.waitVideoColor("#remote-video", red)
	if pcs := alice.probe("peerConnections"); pcs != 2 {
		t.Errorf("alice created %d RTCPeerConnections, want 2 (a fresh one after the failure)", pcs)
	}
}

// relayOnlyScript makes every RTCPeerConnection of the page use relay
// candidates only, so media can flow only through the TURN servers the page
// was given.
const relayOnlyScript = `(() => {
  const PC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends PC {
    constructor(config = {}, ...rest) { super({ ...config, iceTransportPolicy: 'relay' }, ...rest); }
  };
})();`

func TestMediaFlowsThroughTheTURNServerFromWelcome(t *testing.T) {
	requireBrowser(t)
	url := startServer(t, func(c *config.Config) {
		c.TURN.Addr = "127.0.0.1:0"
		c.TURN.AllowLoopback = true
	}).URL()
	alice := newBrowser(t, "alice", browserOptions{camera: red})
	alice.AddInitScript("allow only relayed media", relayOnlyScript)
	bob := newBrowser(t, "bob", browserOptions{camera: green})
	pair(url, alice, bob)

	if !eval[bool](alice, `window.__tandemProbe.pcs[0].getConfiguration().iceServers
	  .some((s) => [].concat(s.urls).some((u) => u.startsWith('turn:127.0.0.1:')) && s.username && s.credential)`) {
		t.Fatalf("alice's RTCPeerConnection lacks the TURN server from welcome\n%s", alice.Report())
	}
	alice.waitVideoColor("#remote-video", green)
	alice.waitVideoPlaying("#remote-video")
	bob.waitVideoColor("#remote-video", red)
	alice.WaitFor("a relayed candidate pair", `window.__tandemProbe.pcs[0].getStats().then((stats) => {
	  let relayed = false;
	  stats.forEach((r) => {
	    if (r.type === 'candidate-pair' && r.state === 'succeeded' && r.nominated) {
	      relayed ||= stats.get(r.localCandidateId)?.candidateType === 'relay';
	    }
	  });
	  return relayed;
	})`)
}

func TestDrainingServerSendsWaitersBackWithAReason(t *testing.T) {
	requireBrowser(t)
	srv := startServer(t)
	erin := newBrowser(t, "erin", browserOptions{camera: blue})
	erin.open(srv.URL())
	erin.click("Start")
	erin.waitStatus(statusSearching)

	if first := eval[string](erin, `window.__tandemProbe.statuses[0]`); first != "Connecting" {
		t.Errorf("the first status = %q, want %q", first, "Connecting")
	}

	srv.Hub().Drain()
	erin.WaitFor("the landing view", `document.body.classList.contains('view-landing')`)
	banner := eval[string](erin, `document.querySelector('#banner').checkVisibility() ? document.querySelector('#banner').textContent : ''`)
	if banner != "The server is restarting and takes no new chats right now. Try again in a minute." {
		t.Errorf("banner = %q, want the restart explained\n%s", banner, erin.Report())
	}

	// Trying again while the server still drains gets the same answer.
	seen := eval[int](erin, `window.__tandemProbe.statuses.length`)
	erin.click("Start")
	erin.WaitFor("a second search", fmt.Sprintf(
		`window.__tandemProbe.statuses.slice(%d).includes(%q)`, seen, statusSearching))
	erin.WaitFor("the banner again", `document.body.classList.contains('view-landing') &&
	  document.querySelector('#banner').checkVisibility()`)
}
