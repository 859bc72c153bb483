package web_test

import (
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp/kb"
	"github.com/tandemchat/tandem/web"
)

// These tests need only the web client, served by web.Handler on loopback:
// they check what a visitor sees before pressing Start.

// openLanding serves the web client on loopback for the test, opens it in a
// new browser named name, and returns the browser and the page's URL.
func openLanding(t *testing.T, name string, opts browserOptions) (*browser, string) {
	t.Helper()
	requireBrowser(t)
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)
	b := newBrowser(t, name, opts)
	b.open(srv.URL)
	return b, srv.URL
}

func TestLandingShowsMirroredCameraPreviewAndStart(t *testing.T) {
	b, _ := openLanding(t, "visitor", browserOptions{camera: green})
	b.waitVideoPlaying("#local-video")
	b.waitVideoColor("#local-video", green)
	checks := map[string]string{
		"the preview is muted":              `document.querySelector('#local-video').muted === true`,
		"the preview is mirrored":           `getComputedStyle(document.querySelector('#local-video')).transform.startsWith('matrix(-1')`,
		"Start is visible":                  `document.querySelector('#start').checkVisibility()`,
		"Next and Stop wait for a chat":     `!document.querySelector('#next').checkVisibility() && !document.querySelector('#stop').checkVisibility()`,
		"no camera problem is reported":     `document.querySelector('#media-note').hidden`,
		"loopback http is a secure context": `window.isSecureContext && document.querySelector('#insecure-notice').hidden`,
		"the chat input is labelled":        `document.querySelector('#message').labels[0].textContent === 'Message'`,
		"the page explains what it is":      `document.querySelector('h1').textContent.includes('stranger')`,
		"the interests field is available":  `document.querySelector('#interests').checkVisibility()`,
	}
	for what, js := range checks {
		if !eval[bool](b, js) {
			t.Errorf("%s: false\n%s", what, b.Report())
		}
	}
}

func TestLandingExplainsDeniedCamera(t *testing.T) {
	b, _ := openLanding(t, "camera-shy", browserOptions{denyCamera: true})
	b.WaitFor("the reason to show", `!document.querySelector('#media-note').hidden`)
	note := eval[string](b, `document.querySelector('#media-note').textContent`)
	if note != "Camera access was denied. You can still watch and chat by text." {
		t.Errorf("media note = %q, want the denial explained", note)
	}
	if !eval[bool](b, `document.querySelector('#start').checkVisibility() && !document.querySelector('#start').disabled`) {
		t.Errorf("Start is not usable without a camera\n%s", b.Report())
	}
}

func TestInterestTagsAreLowercaseUniqueAndRemembered(t *testing.T) {
	b, page := openLanding(t, "visitor", browserOptions{camera: blue})
	tags := `JSON.stringify([...document.querySelectorAll('#interest-tags .tag span')].map((s) => s.textContent))`
	b.typeText("#interests", "Chess, MUSIC,chess, travel")
	b.press(kb.Enter)
	if got := eval[string](b, tags); got != `["chess","music","travel"]` {
		t.Fatalf("tags after typing = %s, want chess, music, travel", got)
	}
	b.press(kb.Backspace)
	b.click("Remove chess")
	if got := eval[string](b, tags); got != `["music"]` {
		t.Fatalf("tags after removing two = %s, want music", got)
	}
	b.open(page)
	if got := eval[string](b, tags); got != `["music"]` {
		t.Errorf("tags after a reload = %s, want music remembered", got)
	}
}
