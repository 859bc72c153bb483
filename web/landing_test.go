package web_test

import (
	"net/http/httptest"
	"strings"
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

// stageTextJS is the text the video area shows: its visible paragraphs.
const stageTextJS = `[...document.querySelectorAll('.videos p')].filter((p) => p.checkVisibility()).map((p) => p.textContent.replace(/\s+/g, ' ').trim()).join(' | ')`

// TestLandingSaysWhatTheStageWillShowUntilTheCameraIsAllowed: while the
// browser's camera question is unanswered the stage is not an empty box but
// says what will appear there; once the camera is allowed the preview
// replaces the text.
func TestLandingSaysWhatTheStageWillShowUntilTheCameraIsAllowed(t *testing.T) {
	b, _ := openLanding(t, "undecided", browserOptions{camera: green, holdCamera: true})
	text := eval[string](b, stageTextJS)
	for _, want := range []string{"camera preview will appear here", "press Start", "partner's video will appear here"} {
		if !strings.Contains(text, want) {
			t.Errorf("before the camera is allowed the stage shows %q, want it to say %q\n%s", text, want, b.Report())
		}
	}
	if !eval[bool](b, `(() => {
	  const p = document.querySelector('#local-placeholder').getBoundingClientRect();
	  const stage = document.querySelector('.videos').getBoundingClientRect();
	  return p.width > stage.width * 0.9 && p.height > stage.height * 0.9;
	})()`) {
		t.Errorf("the explanation does not fill the stage\n%s", b.Report())
	}

	eval[any](b, `window.__tandemAllowCamera()`)
	b.waitVideoPlaying("#local-video")
	b.waitVideoColor("#local-video", green)
	b.WaitFor("the explanation to give way to the preview", `!document.querySelector('#local-placeholder').checkVisibility()`)
	if text := eval[string](b, stageTextJS); text != "" {
		t.Errorf("with the preview playing the stage still shows %q", text)
	}
}

func TestLandingShowsMirroredCameraPreviewAndStart(t *testing.T) {
	b, _ := openLanding(t, "visitor", browserOptions{camera: green})
	b.waitVideoPlaying("#local-video")
	b.waitVideoColor("#local-video", green)
	checks := map[string]string{
		"the preview is muted":                `document.querySelector('#local-video').muted === true`,
		"the preview is mirrored":             `getComputedStyle(document.querySelector('#local-video')).transform.startsWith('matrix(-1')`,
		"Start is visible":                    `document.querySelector('#start').checkVisibility()`,
		"Next and Stop wait for a chat":       `!document.querySelector('#next').checkVisibility() && !document.querySelector('#stop').checkVisibility()`,
		"no camera problem is reported":       `document.querySelector('#media-note').hidden`,
		"the preview has the stage to itself": `!document.querySelector('#local-placeholder').checkVisibility()`,
		"loopback http is a secure context":   `window.isSecureContext && document.querySelector('#insecure-notice').hidden`,
		"the chat input is labelled":          `document.querySelector('#message').labels[0].textContent === 'Message'`,
		"the page explains what it is":        `document.querySelector('h1').textContent.includes('stranger')`,
		"the interests field is available":    `document.querySelector('#interests').checkVisibility()`,
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
	if text := eval[string](b, stageTextJS); text != "Press Start to meet a stranger. Your partner's video will appear here." {
		t.Errorf("without a camera the stage shows %q, want what will appear there\n%s", text, b.Report())
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
