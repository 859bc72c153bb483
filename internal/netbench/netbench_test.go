package netbench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemchat/tandem/internal/browsertest"
	"github.com/tandemchat/tandem/internal/livetest"
	"github.com/tandemchat/tandem/internal/testlog"
)

// benchEnv turns TestNetbench on; secondsEnv changes how long each call is
// measured (default 30 s).
const (
	benchEnv   = "TANDEM_NETBENCH"
	secondsEnv = "NETBENCH_SECONDS"
)

// TestNetbench measures a call through tandem and a direct peer-to-peer call
// between the same two browsers under each condition, and prints the table.
func TestNetbench(t *testing.T) {
	if os.Getenv(benchEnv) == "" {
		t.Skipf("a benchmark of several minutes: run it with make netbench (%s=1)", benchEnv)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces, tc and iptables")
	}
	browsertest.RequireChromium(t)
	seconds := 30
	if s := os.Getenv(secondsEnv); s != "" {
		var err error
		if seconds, err = strconv.Atoi(s); err != nil || seconds < 5 {
			t.Fatalf("%s=%q: want a whole number of seconds, at least 5", secondsEnv, s)
		}
	}
	bin, camera := livetest.BuildTandem(t), writeCamera(t)
	tp := newTopology(t)
	var rows []row
	for _, c := range conditions {
		for _, mode := range []string{"tandem", "p2p"} {
			t.Run(c.name+"/"+mode, func(t *testing.T) {
				c.apply(t, tp)
				r := measure(t, tp, bin, camera, mode, seconds)
				r.condition, r.mode = c.name, mode
				r.summarise(c.capKbps)
				t.Log(r.String())
				rows = append(rows, r)
			})
		}
	}
	fmt.Print(table(rows, seconds))
}

// startServer runs tandem in the server's namespace, with media on both of
// its addresses and no TURN, until the test ends.
func startServer(t *testing.T, tp *topology, bin string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", tp.srv, bin)
	cmd.Env = append(os.Environ(), "TANDEM_HTTP_ADDR=:3000", "TANDEM_ICE_IPS="+srvAddrA+","+srvAddrB,
		"TANDEM_TURN_ADDR=", "TANDEM_DATA_DIR="+t.TempDir())
	logs := &testlog.Buffer{}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		_ = pw.Close()
	})
	ready := make(chan struct{})
	go func() {
		lines := bufio.NewScanner(pr)
		for lines.Scan() {
			logs.Write([]byte(lines.Text() + "\n"))
			if strings.Contains(lines.Text(), "tandem is running") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("tandem did not start in its namespace\n%s", logs)
	}
}

// firstFrameLimit bounds the wait for the receiver's first decoded frame.
const firstFrameLimit = 30 * time.Second

// measure sets up one call (through tandem or peer to peer) between two
// browsers showing camera, samples both once a second for seconds, and
// returns the samples.
func measure(t *testing.T, tp *topology, bin, camera, mode string, seconds int) row {
	t.Helper()
	originA, originB := "http://"+srvAddrA+":3000", "http://"+srvAddrB+":3000"
	snd := startBrowser(t, tp.snd, "sender", originA, camera)
	rcv := startBrowser(t, tp.rcv, "receiver", originB, camera)
	startServer(t, tp, bin)
	snd.open(t, originA+"/")
	rcv.open(t, originB+"/")
	const ready = `document.querySelector('#start') !== null && document.body.classList.contains('view-landing')`
	snd.waitFor(t, "the page", ready, time.Minute)
	rcv.waitFor(t, "the page", ready, time.Minute)
	switch mode {
	case "tandem":
		for _, b := range []*browser{snd, rcv} {
			b.eval(t, `(document.querySelector('#start').click(), true)`, nil)
		}
	case "p2p":
		var offer, answer string
		snd.eval(t, `window.__nb.offer()`, &offer)
		rcv.eval(t, `window.__nb.answer(`+strconv.Quote(offer)+`)`, &answer)
		snd.eval(t, `window.__nb.accept(`+strconv.Quote(answer)+`)`, nil)
	}
	for _, b := range []*browser{snd, rcv} {
		b.waitFor(t, "a connected call", `window.__nb.connected()`, time.Minute)
	}
	// A call that cannot show a first frame within firstFrameLimit is measured all the same
	// (from then on): that is a result, not a failure of the benchmark.
	var r row
	r.firstFrame = rcv.until(t, `window.__nb.sample().then((s) => s.in && s.in.framesDecoded > 0)`, firstFrameLimit)

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for range seconds + 1 {
		var s, d sample
		snd.eval(t, `window.__nb.sample()`, &s)
		rcv.eval(t, `window.__nb.sample()`, &d)
		r.sent = append(r.sent, s)
		r.received = append(r.received, d)
		<-tick.C
	}
	return r
}
