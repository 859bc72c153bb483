package web_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/browsertest"
)

// privateAddr is the non-loopback address the insecure-origin test gives its
// own network namespace. Nothing outside that namespace ever sees it.
const privateAddr = "10.231.0.1"

// addPrivateAddress adds privateAddr to the loopback interface of the test's
// network namespace and removes it when the test ends. (The address is what
// makes an origin insecure, not the interface; the kernels of CI's machines
// have no dummy interfaces, and the namespace's own lo needs none.) It skips
// the test unless that namespace is provably the private one TestMain made:
// another namespace than the test's parent process ran in, with no interface
// but loopback. No interface of the host is ever touched.
func addPrivateAddress(t *testing.T) {
	t.Helper()
	outer := browsertest.OuterNetns()
	self, err := os.Readlink("/proc/self/ns/net")
	if outer == "" || err != nil || self == outer {
		t.Skipf("not in the private network namespace TestMain makes (here %q, outer %q, %v): refusing to add an address",
			self, outer, err)
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatalf("list interfaces: %v", err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback == 0 {
			t.Skipf("this network namespace already has interface %s: the test adds addresses only to a fresh one", ifc.Name)
		}
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Skipf("the ip command is missing: %v", err)
	}
	run := func(args ...string) error {
		out, err := exec.Command(ip, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := run("addr", "add", privateAddr+"/32", "dev", "lo"); err != nil {
		t.Fatalf("add %s to the namespace: %v", privateAddr, err)
	}
	t.Cleanup(func() {
		if err := run("addr", "del", privateAddr+"/32", "dev", "lo"); err != nil {
			t.Errorf("remove %s: %v", privateAddr, err)
		}
	})
}

func TestInsecureOriginExplainsWhyNoCallCanStart(t *testing.T) {
	requireBrowser(t)
	addPrivateAddress(t)
	srv := startServer(t, func(c *config.Config) { c.HTTP.Addr = privateAddr + ":0" })
	page := srv.URL() + "/"
	if !strings.HasPrefix(page, "http://"+privateAddr+":") {
		t.Fatalf("server URL = %q, want plain http on %s", page, privateAddr)
	}
	visitor := newBrowser(t, "visitor", browserOptions{camera: green})
	visitor.open(page)
	if eval[bool](visitor, `window.isSecureContext`) {
		t.Fatalf("%s is a secure context; the test needs an insecure one", page)
	}
	visitor.WaitFor("the notice", `document.querySelector('#insecure-notice').checkVisibility()`)

	notice := eval[string](visitor, `document.querySelector('#insecure-notice').textContent.replace(/\s+/g, ' ')`)
	for _, want := range []string{
		"Video chat cannot start on this page",
		"Browsers allow the camera and microphone only on secure pages",
		"plain http://",
		"Serve it over HTTPS",
		"docs/https.md",
	} {
		if !strings.Contains(notice, want) {
			t.Errorf("the notice lacks %q: %q", want, notice)
		}
	}
	secure := "https://" + strings.TrimPrefix(page, "http://")
	if got := eval[string](visitor, `document.querySelector('#secure-link').href`); got != secure {
		t.Errorf("the secure link = %q, want %q", got, secure)
	}
	if !eval[bool](visitor, `document.querySelector('#start').disabled`) {
		t.Errorf("Start is enabled on an insecure page\n%s", visitor.Report())
	}
	if !eval[bool](visitor, `document.querySelector('#media-note').hidden`) {
		t.Errorf("a second, camera-only note shows next to the notice\n%s", visitor.Report())
	}

	// Pressing the disabled Start anyway opens nothing.
	visitor.click("Start")
	if n := len(eval[[]any](visitor, `window.__tandemProbe.sockets`)); n != 0 {
		t.Errorf("the insecure page opened %d WebSockets", n)
	}
	if !eval[bool](visitor, `document.body.classList.contains('view-landing')`) {
		t.Errorf("Start left the landing view on an insecure page\n%s", visitor.Report())
	}
}
