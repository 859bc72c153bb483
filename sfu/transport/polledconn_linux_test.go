//go:build linux

package transport

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/pion/transport/v5"
)

var _ transport.UDPConn = (*polledConn)(nil)

// newTestPoller returns a poller closed at the end of the test, after its sockets.
func newTestPoller(t *testing.T) *poller {
	t.Helper()
	p, err := newPoller()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.close(); err != nil {
			t.Errorf("close poller: %v", err)
		}
	})
	return p
}

// newUnarmedInbound returns an inbound without keys: it takes nothing.
func newUnarmedInbound(t testing.TB) *inbound {
	return newInbound(newTestTransport(t, Config{}), &testSink{}, slog.New(slog.DiscardHandler))
}

func listenTestPolled(t *testing.T, p *poller, in *inbound) *polledConn {
	t.Helper()
	c, err := listenPolled(p, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, in)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrPort(c *polledConn) netip.AddrPort { return c.local.AddrPort() }

// readWithin reads one datagram, failing the test after d.
func readWithin(t *testing.T, c *polledConn, d time.Duration) ([]byte, netip.AddrPort) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, from, err := c.ReadFromAddrPort(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return buf[:n], from
}

func TestPolledConnPassesWhatTheFastPathDoesNotTakeToPion(t *testing.T) {
	in := newUnarmedInbound(t) // no keys: takes nothing
	p := newTestPoller(t)
	a, b := listenTestPolled(t, p, in), listenTestPolled(t, p, in)

	// A datagram that is none of STUN, DTLS or RTP (RFC 7983) is dropped; the STUN-like one
	// after it reaches Pion.
	const stunLike = "\x00\x01stun-ish"
	for _, d := range []string{"junk", stunLike} {
		if _, err := a.WriteToAddrPort([]byte(d), addrPort(b)); err != nil {
			t.Fatal(err)
		}
	}
	got, from := readWithin(t, b, 5*time.Second)
	if string(got) != stunLike || from != addrPort(a) {
		t.Fatalf("read %q from %s, want %q from %s", got, from, stunLike, addrPort(a))
	}
	if !b.receivedFrom(addrPort(a)) || b.receivedFrom(addrPort(b)) {
		t.Fatal("the socket does not remember where ICE's packets came from")
	}

	// A deadline in the past fails the read at once; a zero one clears it.
	if err := b.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.ReadFromAddrPort(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	if err := b.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}

	// Close unblocks a waiting reader, and the socket is unusable afterwards.
	readErr := make(chan error, 1)
	go func() {
		_, _, err := b.ReadFromAddrPort(make([]byte, 10))
		readErr <- err
	}()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on a closed conn: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock the reader")
	}
	if _, err := b.WriteToAddrPort([]byte("x"), addrPort(a)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write on a closed conn: %v, want net.ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// The poller's goroutine ends with its last socket.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		running := p.running
		p.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the poller still runs without sockets")
		}
		time.Sleep(time.Millisecond)
	}
}

// A flood of datagrams the fast path does not take fills Pion's queue and is dropped beyond
// it; the client's media is still taken by the fast path, on the poller's goroutine.
func TestPolledConnTakesMediaDuringAFlood(t *testing.T) {
	in, client := newFuzzInbound(t)
	p := newTestPoller(t)
	c := listenTestPolled(t, p, in)
	sender, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()

	for range 3 * pionQueueLen {
		if _, err := sender.WriteToUDPAddrPort([]byte{0, 1, 0, 0}, addrPort(c)); err != nil {
			t.Fatal(err)
		}
	}
	_, encrypted := clientVP8(t, client, 1)
	if _, err := sender.WriteToUDPAddrPort(encrypted, addrPort(c)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for in.t.Stats().PacketsDecrypted != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the client's packet was not taken by the fast path")
		}
		time.Sleep(time.Millisecond)
	}
	if n := len(c.forPion); n != pionQueueLen {
		t.Fatalf("%d datagrams wait for Pion, want the queue full at %d", n, pionQueueLen)
	}
	got, _ := readWithin(t, c, time.Second)
	if !bytes.Equal(got, []byte{0, 1, 0, 0}) {
		t.Fatalf("Pion read %x, want the flood's datagram", got)
	}
}

func TestPolledConnWriteDoesNotAllocate(t *testing.T) {
	p := newTestPoller(t)
	in := newUnarmedInbound(t)
	a := listenTestPolled(t, p, in)
	// The receiver is not polled: the poller would allocate queuing its datagrams for Pion.
	b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	payload, to := make([]byte, 1100), b.LocalAddr().(*net.UDPAddr).AddrPort()
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := a.WriteToAddrPort(payload, to); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per write, want 0", allocs)
	}
}

// New sockets fill the first poller before the next one starts, then go to the least loaded.
func TestSocketsArePackedOntoFewPollers(t *testing.T) {
	p1, p2 := newTestPoller(t), newTestPoller(t)
	s := &Transport{pollers: []*poller{p1, p2}}
	fill := func(p *poller, n int) { // registry entries only: nextPoller counts them
		p.mu.Lock()
		defer p.mu.Unlock()
		for i := len(p.conns); i < n; i++ {
			p.conns[int32(1000+i)] = &polledConn{}
		}
	}
	t.Cleanup(func() { // newTestPoller's close expects its sockets gone
		for _, p := range s.pollers {
			p.mu.Lock()
			clear(p.conns)
			p.mu.Unlock()
		}
	})
	if got := s.nextPoller(); got != p1 {
		t.Fatal("an empty SFU does not use its first poller")
	}
	fill(p1, pollerSockets-1)
	if got := s.nextPoller(); got != p1 {
		t.Fatal("a poller with room was passed over")
	}
	fill(p1, pollerSockets)
	if got := s.nextPoller(); got != p2 {
		t.Fatal("a full poller got another socket while the next had room")
	}
	fill(p2, pollerSockets+5)
	if got := s.nextPoller(); got != p1 {
		t.Fatal("with all pollers full, the least loaded was not chosen")
	}
}

// TestQueueingForPionDoesNotAllocateOnceWarm checks that a datagram queued for Pion and read
// by it reuses a slot: a flood of junk costs no allocation per datagram.
func TestQueueingForPionDoesNotAllocateOnceWarm(t *testing.T) {
	p := newTestPoller(t)
	in, _ := newFuzzInbound(t)
	c := listenTestPolled(t, p, in)
	stun := make([]byte, 120) // first byte 0: STUN-like
	from := netip.MustParseAddrPort("127.0.0.1:9")
	buf := make([]byte, receiveMTU)
	cycle := func() {
		c.queue(stun, from)
		if _, _, err := c.ReadFromAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	}
	cycle() // makes the first slot
	if allocs := testing.AllocsPerRun(100, cycle); allocs != 0 {
		t.Fatalf("%.1f allocations per queued datagram, want 0", allocs)
	}
}

func TestForPionKeepsWhatICEAndDTLSReadAndDropsTheRest(t *testing.T) {
	for first, want := range map[byte]bool{0: true, 1: true, 3: true, 4: false, 19: false, 20: true,
		22: true, 63: true, 64: false, 127: false, 128: true, 191: true, 192: false, 255: false} {
		if got := forPion([]byte{first, 0, 0, 0}); got != want {
			t.Errorf("first byte %d: forPion %v, want %v", first, got, want)
		}
	}
	if forPion(nil) {
		t.Error("an empty datagram is for no one")
	}
}

// TestQuietPollerSleepsUntilADatagramArrives checks that a poller whose sockets are quiet
// stops polling and sleeps in the kernel, that a datagram wakes it and is read, and that
// closing a sleeping poller ends its goroutine.
func TestQuietPollerSleepsUntilADatagramArrives(t *testing.T) {
	p, err := newPoller()
	if err != nil {
		t.Fatal(err)
	}
	in, _ := newFuzzInbound(t)
	a, b := listenTestPolled(t, p, in), listenTestPolled(t, p, in)
	waitUntil(t, "the quiet poller sleeps", func() bool { return p.sleeps.Load() == 1 })
	polls := p.polls.Load()
	quiet := time.NewTimer(50 * time.Millisecond) // thousands of polls, were it polling
	<-quiet.C
	if n := p.polls.Load() - polls; n != 0 {
		t.Fatalf("a sleeping poller polled %d times in 50 ms", n)
	}

	if _, err := a.WriteToAddrPort([]byte("\x00\x01wake"), addrPort(b)); err != nil {
		t.Fatal(err)
	}
	if got, _ := readWithin(t, b, 5*time.Second); string(got) != "\x00\x01wake" {
		t.Fatalf("read %q", got)
	}
	waitUntil(t, "the poller sleeps again", func() bool { return p.sleeps.Load() == 2 })

	closed := make(chan error, 1)
	go func() { closed <- p.close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("closing a sleeping poller did not end its goroutine")
	}
}

// waitUntil fails the test unless cond holds within 5 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
