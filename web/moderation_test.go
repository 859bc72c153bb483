package web_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/moderation"
)

// waitNotice waits until the chat shows a notice containing text.
func (b *browser) waitNotice(text string) {
	b.t.Helper()
	b.WaitFor(fmt.Sprintf("a notice %q", text), fmt.Sprintf(
		`[...document.querySelectorAll('#messages li.notice')].some((li) => li.textContent.includes(%q))`, text))
}

// clickSelector clicks the element selector matches (a radio button, say).
func (b *browser) clickSelector(selector string) {
	b.t.Helper()
	b.Do("click "+selector, chromedp.Click(chromedp.CSS(selector)))
}

func TestReportEndsTheCallAndThePageSaysSo(t *testing.T) {
	requireBrowser(t)
	srv := startServer(t)
	alice := newBrowser(t, "alice", browserOptions{camera: red})
	bob := newBrowser(t, "bob", browserOptions{camera: green})
	pair(srv.URL(), alice, bob)
	bob.typeMessage("a rude line")
	alice.waitMessage("Stranger", "a rude line")

	alice.click("Report")
	alice.WaitFor("the report form", `document.querySelector('#report-dialog').open`)
	alice.clickSelector("#reason-harassment")
	alice.typeText("#report-comment", "insulted me")
	alice.click("Send report")

	alice.waitStatus(statusSearching)
	alice.waitNotice("You reported the stranger and the chat has ended")
	alice.waitNotice("your report was received")
	bob.waitStatus(statusLeft)
	bob.waitNotice("Stranger skipped to someone else.") // not told of the report

	reports, err := srv.Moderation().Reports(moderation.ReportFilter{})
	if err != nil || len(reports) != 1 {
		t.Fatalf("%d reports stored (%v), want 1", len(reports), err)
	}
	r := reports[0]
	if r.Reason != "harassment" || r.Comment != "insulted me" || len(r.Chat) != 1 || r.Chat[0].Text != "a rude line" {
		t.Fatalf("stored report %+v", r)
	}

	// Bob looks again and is not paired with alice, who still waits.
	bob.click("Start")
	bob.waitStatus(statusSearching)
	if got := srv.Hub().Stats().WaitingUsers; got != 2 {
		t.Fatalf("%d users waiting, want alice and bob apart", got)
	}
}

func TestBannedBrowserSeesTheBan(t *testing.T) {
	requireBrowser(t)
	srv := startServer(t)
	alice := newBrowser(t, "alice", browserOptions{camera: red})
	bob := newBrowser(t, "bob", browserOptions{camera: green})
	pair(srv.URL(), alice, bob)

	// Both browsers reach the server from 127.0.0.1: banning it ends both calls.
	if _, err := srv.Moderation().Ban("127.0.0.1", "spam", 2*time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*browser{alice, bob} {
		b.WaitFor("the ban message", `(() => {
		  const banner = document.querySelector('#banner');
		  return !banner.hidden && banner.textContent.includes('You have been banned from this site until') &&
		    banner.textContent.includes('spam or advertising') && document.body.classList.contains('view-landing');
		})()`)
	}
	// A new visit is refused with the same message, and never reconnects.
	carol := newBrowser(t, "carol", browserOptions{camera: blue})
	carol.open(srv.URL())
	carol.click("Start")
	carol.WaitFor("the ban message", `!document.querySelector('#banner').hidden &&
	  document.querySelector('#banner').textContent.includes('You have been banned')`)
	if n := carol.probe("sockets.length"); n != 1 {
		t.Errorf("carol opened %d WebSockets, want 1 (a banned page does not retry)", n)
	}
}

func TestTermsMustBeAcceptedBeforeTheFirstStart(t *testing.T) {
	requireBrowser(t)
	srv := startServer(t, func(c *config.Config) { c.Signaling.Terms = "You must be 18 or older." })
	alice := newBrowser(t, "alice", browserOptions{camera: red})
	bob := newBrowser(t, "bob", browserOptions{camera: green})
	alice.open(srv.URL())
	alice.click("Start")
	alice.WaitFor("the terms", `document.querySelector('#terms-dialog').open &&
	  document.querySelector('#terms-text').textContent === 'You must be 18 or older.'`)
	if got := srv.Hub().Stats().WaitingUsers; got != 0 {
		t.Fatalf("%d waiting before the terms were accepted", got)
	}
	alice.click("I agree")
	alice.waitStatus(statusSearching)
	bob.open(srv.URL())
	bob.click("Start")
	bob.WaitFor("the terms", `document.querySelector('#terms-dialog').open`)
	bob.click("Decline")
	bob.WaitFor("the landing view", `document.body.classList.contains('view-landing')`)
	bob.click("Start")
	bob.click("I agree")
	bob.waitStatus(statusTalking)
	alice.waitStatus(statusTalking)
}
