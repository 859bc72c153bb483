//go:build linux

package transport

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// takeLog is a packetTaker that takes every datagram and records, in the order the poller
// handed them over, which socket each came from.
type takeLog struct {
	mu    sync.Mutex
	order []int // socket numbers
}

// takerFor returns the taker of socket number i.
func (l *takeLog) takerFor(i int) packetTaker { return takeInto{l, i} }

type takeInto struct {
	log    *takeLog
	socket int
}

func (t takeInto) takeFrom([]byte, netip.AddrPort, *scratch) bool {
	t.log.mu.Lock()
	t.log.order = append(t.log.order, t.socket)
	t.log.mu.Unlock()
	return true
}

// TestFloodedSocketsCannotDelayAQuietOneBeyondARound fills four sockets of a poller with a
// flood's backlog, puts one datagram in a fifth, and runs one poll by hand: the quiet
// socket's datagram is handed over in the poll's first round, after at most readQuantum
// datagrams of each flooded socket, not after their backlogs.
func TestFloodedSocketsCannotDelayAQuietOneBeyondARound(t *testing.T) {
	const flooded, backlog = 4, 100
	p := newTestPoller(t)
	p.mu.Lock()
	p.running = true // no run goroutine: this test calls poll itself
	p.mu.Unlock()
	var log takeLog
	var conns []*polledConn
	for i := range flooded + 1 {
		c, err := listenPolled(p, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, log.takerFor(i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	sender, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	junk := make([]byte, 100)
	for _, c := range conns[:flooded] {
		for range backlog {
			if _, err := sender.WriteToUDPAddrPort(junk, addrPort(c)); err != nil {
				t.Fatal(err)
			}
		}
	}
	quiet := flooded
	if _, err := sender.WriteToUDPAddrPort(junk, addrPort(conns[quiet])); err != nil {
		t.Fatal(err)
	}

	p.poll()
	p.mu.Lock()
	p.running = false
	p.mu.Unlock()

	at := slices.Index(log.order, quiet)
	if at < 0 {
		t.Fatalf("one poll did not read the quiet socket (read %d datagrams)", len(log.order))
	}
	if at > flooded*readQuantum {
		t.Fatalf("the quiet socket's datagram came after %d flooded ones, want at most %d (one round)",
			at, flooded*readQuantum)
	}
	if len(log.order) != flooded*backlog+1 {
		t.Fatalf("one poll read %d datagrams, want the whole backlog %d (under maxReadsPerPoll)",
			len(log.order), flooded*backlog+1)
	}
}

// floodEnv names, for TestFloodProcess, the addresses to flood.
const floodEnv = "TANDEM_TEST_FLOOD_TARGETS"

// TestFloodProcess is not a test: it is the body of the process startFlood runs, which sends
// junk (none of STUN, DTLS or RTP) to the addresses in floodEnv as fast as it can until its
// parent closes its standard input.
func TestFloodProcess(t *testing.T) {
	targets := os.Getenv(floodEnv)
	if targets == "" {
		t.Skip("runs only as the flood of BenchmarkPollerDelayUnderFlood")
	}
	var wg sync.WaitGroup
	var stop atomic.Bool
	for _, target := range strings.Split(targets, ",") {
		to := netip.MustParseAddrPort(target)
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			junk := bytes.Repeat([]byte{0xff}, 100)
			for !stop.Load() {
				_, _ = conn.WriteToUDPAddrPort(junk, to)
			}
		}()
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it, or exits
	stop.Store(true)
	wg.Wait()
}

// startFlood floods targets from a process of its own at the lowest CPU priority, as a flood
// from the network would cost the server nothing to send, and returns a function that stops
// it.
func startFlood(b *testing.B, targets []*polledConn) func() {
	if len(targets) == 0 {
		return func() {}
	}
	return startSender(b, "TestFloodProcess", floodEnv, targets, "nice", "-n", "19")
}

// startSender runs this test binary's test named test as a process of its own (prefixed by
// the command in prefix, if any), telling it targets' addresses in the variable env, and
// returns a function that stops it (by closing its stdin) and waits for it.
func startSender(b *testing.B, test, env string, targets []*polledConn, prefix ...string) func() {
	var addrs []string
	for _, c := range targets {
		addrs = append(addrs, addrPort(c).String())
	}
	args := append(prefix, os.Args[0], "-test.run=^"+test+"$")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env+"="+strings.Join(addrs, ","))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}
}

// BenchmarkPollerDelayUnderFlood reports how long a quiet socket's media waits (from its
// send to the poller handing it to the peer's fast path) on a poller whose other sockets are
// flooded with junk: p50 and p99 in microseconds (docs/performance.md).
func BenchmarkPollerDelayUnderFlood(b *testing.B) {
	for _, flooded := range []int{0, 1, 4} {
		b.Run(map[int]string{0: "quiet", 1: "flood1", 4: "flood4"}[flooded], func(b *testing.B) {
			d := pollerDelays(b, flooded, max(b.N, 200))
			slices.Sort(d)
			b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// delayTaker takes every datagram as media and reports how long ago it was sent, from the
// send time the datagram carries at bytes 4 to 12.
type delayTaker chan time.Duration

func (d delayTaker) takeFrom(b []byte, _ netip.AddrPort, _ *scratch) bool {
	if len(b) >= 12 {
		d <- time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(b[4:12]))))
	}
	return true
}

// pollerDelays sends n timestamped datagrams to a quiet socket, one at a time, while the
// other sockets of its poller are flooded, and returns how long each waited.
func pollerDelays(b *testing.B, flooded, n int) []time.Duration {
	p, err := newPoller()
	if err != nil {
		b.Fatal(err)
	}
	defer p.close()
	in := newUnarmedInbound(b) // no keys: nothing is media
	var targets []*polledConn
	for range flooded {
		c, err := listenPolled(p, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, in)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		targets = append(targets, c)
	}
	taken := make(delayTaker, 1)
	quiet, err := listenPolled(p, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, taken)
	if err != nil {
		b.Fatal(err)
	}
	defer quiet.Close()
	sender, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close()

	defer startFlood(b, targets)()

	delays := make([]time.Duration, 0, n)
	msg := make([]byte, 20)
	for len(delays) < n {
		binary.BigEndian.PutUint64(msg[4:], uint64(time.Now().UnixNano()))
		if _, err := sender.WriteToUDPAddrPort(msg, addrPort(quiet)); err != nil {
			b.Fatal(err)
		}
		select {
		case d := <-taken:
			delays = append(delays, d)
		case <-time.After(5 * time.Second):
			b.Fatalf("the quiet socket's datagram %d was not read", len(delays))
		}
	}
	return delays
}
