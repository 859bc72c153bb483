package web_test

import (
	"strconv"
	"testing"

	"github.com/tandemchat/tandem/config"
)

// weakNote is a predicate on the page's weak-link note: shown and holding
// text.
func weakNote(text string) string {
	return `(() => { const n = document.querySelector('#weak-link');
	  return !n.hidden && n.textContent.includes(` + strconv.Quote(text) + `); })()`
}

// TestWeakDownlinkPausesVideoAndBothPagesSaySo runs the receiver-aware
// bitrate's whole chain with real browsers: Chrome estimates its downlink on
// the server's abs-send-time and reports it in REMB; under the floor (set
// here far above anything a browser estimates) the server pauses video to it
// and both pages say whose link is weak; after a pause the server tries
// video again (a trial), and the note goes.
func TestWeakDownlinkPausesVideoAndBothPagesSaySo(t *testing.T) {
	requireBrowser(t)
	url := startServer(t, func(c *config.Config) { c.Media.VideoFloorKbps = 1_000_000 }).URL()
	alice := newBrowser(t, "alice", browserOptions{camera: red})
	bob := newBrowser(t, "bob", browserOptions{camera: green})
	pair(url, alice, bob)

	const self, partner = "Your connection is weak", "Your partner's connection is weak"
	alice.WaitFor("alice told her own link is weak", weakNote(self))
	bob.WaitFor("bob told alice's link is weak", weakNote(partner))
	alice.WaitFor("video to alice tried again", `!document.querySelector('#weak-link').textContent.includes(`+strconv.Quote(self)+`)`)
}
