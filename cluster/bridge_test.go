package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemchat/tandem/internal/testlog"
)

const testSecret = "a cluster secret for tests"

// bridged is a BridgeSink that keeps what arrives.
type bridged struct {
	mu   sync.Mutex
	pkts []string // "from stream payload"
}

func (s *bridged) HandleBridged(from string, stream uint64, pkt []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pkts = append(s.pkts, fmt.Sprintf("%s %d %s", from, stream, pkt))
}

func (s *bridged) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.pkts...)
}

func listenTestBridge(t *testing.T, self, secret string, sink BridgeSink) *Bridge {
	t.Helper()
	log, _ := testlog.NewLogger(t, self+" bridge log", 0)
	b, err := ListenBridge("127.0.0.1:0", self, secret, sink, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// linked returns x's link to y and y's to x.
func linked(t *testing.T, x, y *Bridge) (*BridgePeer, *BridgePeer) {
	t.Helper()
	xy, err := x.AddPeer(y.self, y.Addr())
	if err != nil {
		t.Fatal(err)
	}
	yx, err := y.AddPeer(x.self, x.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return xy, yx
}

func waitGot(t *testing.T, s *bridged, n int) []string {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%d bridged packets", n), func() bool { return len(s.got()) >= n })
	return s.got()
}

func TestBridgeCarriesPacketsBothWays(t *testing.T) {
	var sx, sy bridged
	x, y := listenTestBridge(t, "x", testSecret, &sx), listenTestBridge(t, "y", testSecret, &sy)
	xy, yx := linked(t, x, y)
	for i := range 3 {
		if err := xy.Send(uint64(7+i), []byte(fmt.Sprintf("rtp%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := yx.Send(9, bytes.Repeat([]byte("v"), MaxBridgedPacket)); err != nil {
		t.Fatal(err)
	}
	if got := waitGot(t, &sy, 3); got[0] != "x 7 rtp0" || got[2] != "x 9 rtp2" {
		t.Fatalf("y got %q", got)
	}
	if got := waitGot(t, &sx, 1); got[0] != "y 9 "+string(bytes.Repeat([]byte("v"), MaxBridgedPacket)) {
		t.Fatalf("x got %d bytes, want the full packet", len(got[0]))
	}
	if err := xy.Send(1, make([]byte, MaxBridgedPacket+1)); err == nil {
		t.Fatal("a packet over MaxBridgedPacket was sent")
	}
}

// TestBridgeRefusesForgedReplayedAndForeignDatagrams sends, from a plain
// socket, a captured datagram again, a tampered one, one sealed with another
// secret, and junk: none reaches the sink, and a good one after them does.
func TestBridgeRefusesForgedReplayedAndForeignDatagrams(t *testing.T) {
	var sy bridged
	y := listenTestBridge(t, "y", testSecret, &sy)
	// x seals with the right secret, z with another; neither sends by itself.
	x := listenTestBridge(t, "x", testSecret, &bridged{})
	z := listenTestBridge(t, "x", "another secret of the same length", &bridged{})
	xy, _ := linked(t, x, y)
	zy, err := z.AddPeer("y", y.Addr())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	datagram := func(p *BridgePeer, payload string) []byte {
		buf := make([]byte, bridgeBufLen)
		return buf[:p.seal(buf, new([12]byte), 5, []byte(payload))]
	}
	send := func(d []byte) {
		if _, err := raw.WriteToUDPAddrPort(d, y.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	good := datagram(xy, "first")
	send(good)
	waitGot(t, &sy, 1)
	tampered := datagram(xy, "tampered")
	tampered[len(tampered)-20] ^= 1
	for _, d := range [][]byte{good, tampered, datagram(zy, "foreign"), []byte("junk")} {
		send(d)
	}
	waitUntil(t, "four refusals", func() bool { return y.Dropped() == 4 })
	send(datagram(xy, "last"))
	if got := waitGot(t, &sy, 2); len(got) != 2 || got[1] != "x 5 last" {
		t.Fatalf("y got %q, want the first and the last only", got)
	}
}

func TestBridgeReplayWindow(t *testing.T) {
	p := &BridgePeer{}
	for _, c := range []uint64{1, 3, 2, 100, 50, 99} {
		if !p.fresh(c) {
			if c == 50 {
				continue // more than a window behind 100: refused
			}
			t.Fatalf("counter %d refused", c)
		}
		p.mark(c)
	}
	for _, c := range []uint64{0, 1, 3, 100, 99, 36} {
		if p.fresh(c) {
			t.Errorf("counter %d taken again (or too old)", c)
		}
	}
	if !p.fresh(98) || !p.fresh(101) {
		t.Error("an unseen counter inside the window was refused")
	}
}

func TestBridgeSendAndOpenDoNotAllocate(t *testing.T) {
	x := listenTestBridge(t, "x", testSecret, &bridged{})
	y := listenTestBridge(t, "y", testSecret, discard{})
	// x sends to the discard port, so y's read goroutine stays idle while
	// the test opens x's datagrams on y itself.
	xy, err := x.AddPeer("y", netip.MustParseAddrPort("127.0.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := y.AddPeer("x", x.Addr()); err != nil {
		t.Fatal(err)
	}
	pkt := make([]byte, 1100)
	if n := testing.AllocsPerRun(200, func() { _ = xy.Send(3, pkt) }); n != 0 {
		t.Fatalf("Send: %.1f allocations per packet, want 0", n)
	}
	x.SetHold(time.Millisecond) // the flusher's timer and its list of waiting peers
	if n := testing.AllocsPerRun(200, func() { _ = xy.Send(3, pkt); _ = xy.SendNow(2, nil) }); n != 0 {
		t.Fatalf("Send and SendNow with a hold: %.1f allocations per packet, want 0", n)
	}
	buf, nonce := make([]byte, bridgeBufLen), new([12]byte)
	if n := testing.AllocsPerRun(200, func() { y.open(buf[:xy.seal(buf, nonce, 3, pkt)]) }); n != 0 {
		t.Fatalf("open: %.1f allocations per packet, want 0", n)
	}
	if y.Dropped() != 0 {
		t.Fatalf("y dropped %d of x's datagrams", y.Dropped())
	}
}

type discard struct{}

func (discard) HandleBridged(string, uint64, []byte) {}

// BenchmarkBridgePacket is most of what one bridged 1100-byte packet costs
// beyond a local forward: adding it to a datagram, sealing and sendto on one
// instance, opening on the other, for datagrams of 1 packet (as on a path
// with a 1500-byte MTU) and of 6 (a video frame at 1.5 Mbit/s, coalesced on
// loopback or jumbo frames). Not counted: the receiving instance's read of
// the datagram. Per op one datagram; ns/packet divides by its packets. Run
// with -cpu 1, so the flusher cannot work beside the benchmark unmeasured.
func BenchmarkBridgePacket(b *testing.B) {
	for _, perDatagram := range []int{1, 6} {
		b.Run(fmt.Sprintf("%d-per-datagram", perDatagram), func(b *testing.B) {
			benchmarkBridgePackets(b, perDatagram)
		})
	}
}

func benchmarkBridgePackets(b *testing.B, perDatagram int) {
	log, _ := testlog.NewLogger(b, "bridge log", 0)
	x, err := ListenBridge("127.0.0.1:0", "x", testSecret, discard{}, log)
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	y, err := ListenBridge("127.0.0.1:0", "y", testSecret, discard{}, log)
	if err != nil {
		b.Fatal(err)
	}
	defer y.Close()
	// x's datagrams go to a socket nobody reads (once its buffer is full the
	// kernel drops them), as cheap for the sender as a peer that reads; the
	// benchmark opens each on y itself.
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	xy, _ := x.AddPeer("y", sink.LocalAddr().(*net.UDPAddr).AddrPort())
	if _, err := y.AddPeer("x", x.Addr()); err != nil {
		b.Fatal(err)
	}
	xy.limit = min(perDatagram*(recordHeaderLen+1100)+bridgeHeaderLen+gcmTagLen, maxDatagram)
	pkt, d := make([]byte, 1100), new(bridgeBatch)
	b.SetBytes(int64(perDatagram * len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		for range perDatagram {
			if err := xy.Send(3, pkt); err != nil {
				b.Fatal(err)
			}
		}
		xy.flushAll()
		d.n = bridgeHeaderLen
		for range perDatagram {
			d.add(3, pkt)
		}
		y.open(d.buf[:xy.sealBatch(d.buf[:], d.n, &d.nonce)])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perDatagram), "ns/packet")
}

// goroutineListener is a BridgeListener that reads a plain socket on a
// goroutine of its own, as the server's pollers read theirs, and counts the
// datagrams it delivered.
type goroutineListener struct {
	delivered atomic.Int64
	done      chan struct{}
}

func (l *goroutineListener) listen(addr netip.AddrPort, deliver func([]byte, netip.AddrPort)) (BridgeSocket, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, err
	}
	l.done = make(chan struct{})
	go func() {
		defer close(l.done)
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			l.delivered.Add(1)
			deliver(buf[:n], from)
		}
	}()
	return ownSocket{conn}, nil
}

func TestBridgeReadByAListener(t *testing.T) {
	var sx, sy bridged
	var lx goroutineListener
	log, _ := testlog.NewLogger(t, "x bridge log", 0)
	x, err := ListenBridgeWith(lx.listen, "127.0.0.1:0", "x", testSecret, &sx, log)
	if err != nil {
		t.Fatal(err)
	}
	y := listenTestBridge(t, "y", testSecret, &sy)
	xy, yx := linked(t, x, y)
	if err := xy.Send(4, []byte("to y")); err != nil {
		t.Fatal(err)
	}
	if err := yx.Send(5, []byte("to x")); err != nil {
		t.Fatal(err)
	}
	if got := waitGot(t, &sy, 1); got[0] != "x 4 to y" {
		t.Fatalf("y got %q", got)
	}
	if got := waitGot(t, &sx, 1); got[0] != "y 5 to x" {
		t.Fatalf("x got %q", got)
	}
	if lx.delivered.Load() != 1 {
		t.Fatalf("the listener delivered %d datagrams, want y's one", lx.delivered.Load())
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lx.done: // Close closed the listener's socket
	case <-time.After(10 * time.Second):
		t.Fatal("the listener's reader did not end after Close")
	}
}

// TestBridgeReadsItselfWhenTheListenerCannot: a listener that fails (as the
// SFU's pollers do for an IPv6 address or off Linux) leaves the bridge
// reading its own socket.
func TestBridgeReadsItselfWhenTheListenerCannot(t *testing.T) {
	var sx bridged
	log, _ := testlog.NewLogger(t, "x bridge log", 0)
	refuse := func(netip.AddrPort, func([]byte, netip.AddrPort)) (BridgeSocket, error) {
		return nil, errors.New("no pollers here")
	}
	x, err := ListenBridgeWith(refuse, "127.0.0.1:0", "x", testSecret, &sx, log)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	y := listenTestBridge(t, "y", testSecret, &bridged{})
	_, yx := linked(t, x, y)
	if err := yx.Send(6, []byte("to x")); err != nil {
		t.Fatal(err)
	}
	if got := waitGot(t, &sx, 1); got[0] != "y 6 to x" {
		t.Fatalf("x got %q", got)
	}
}

// TestBridgeCoalescesThePacketsSentBeforeAYield sends a video frame's worth of
// packets from one goroutine on one processor, as an SFU poller forwards the
// packets of one poll: they leave in one datagram, in order, and arrive whole.
func TestBridgeCoalescesThePacketsSentBeforeAYield(t *testing.T) {
	var sy bridged
	x, y := listenTestBridge(t, "x", testSecret, &bridged{}), listenTestBridge(t, "y", testSecret, &sy)
	xy, _ := linked(t, x, y)
	if xy.limit != maxDatagram {
		t.Fatalf("datagram limit on loopback %d, want %d", xy.limit, maxDatagram)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var want []string
	for i := range 6 {
		pkt := bytes.Repeat([]byte{'a' + byte(i)}, 1100)
		if err := xy.Send(uint64(4*i), pkt); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("x %d %s", 4*i, pkt))
	}
	got := waitGot(t, &sy, 6)
	if !slices.Equal(got, want) {
		t.Fatalf("y got %d packets, not the 6 sent in order", len(got))
	}
	if n := y.datagrams.Load(); n != 1 {
		t.Fatalf("6 packets came in %d datagrams, want 1", n)
	}
}

// TestBridgeSplitsDatagramsAtTheLimit: packets that do not fit the open
// datagram start the next one; none is lost, reordered or over the limit.
func TestBridgeSplitsDatagramsAtTheLimit(t *testing.T) {
	var sy bridged
	var ly sizeListener
	log, _ := testlog.NewLogger(t, "y bridge log", 0)
	y, err := ListenBridgeWith(ly.listen, "127.0.0.1:0", "y", testSecret, &sy, log)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	x := listenTestBridge(t, "x", testSecret, &bridged{})
	xy, _ := linked(t, x, y)
	xy.limit = bridgeBufLen // as on a path of a 1500-byte MTU
	var want []string
	for i, size := range []int{1000, 20, 1000, 1000, 60, 1500, 0} {
		pkt := bytes.Repeat([]byte{'a' + byte(i)}, size)
		if err := xy.Send(uint64(i), pkt); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("x %d %s", i, pkt))
	}
	if got := waitGot(t, &sy, len(want)); !slices.Equal(got, want) {
		t.Fatalf("y got %q, want %q", got, want)
	}
	if ly.largest.Load() > int64(bridgeBufLen) {
		t.Fatalf("a datagram of %d bytes, over the limit of %d", ly.largest.Load(), bridgeBufLen)
	}
}

// sizeListener is a goroutineListener that keeps the largest datagram's size.
type sizeListener struct {
	goroutineListener
	largest atomic.Int64
}

func (l *sizeListener) listen(addr netip.AddrPort, deliver func([]byte, netip.AddrPort)) (BridgeSocket, error) {
	return l.goroutineListener.listen(addr, func(d []byte, from netip.AddrPort) {
		if n := int64(len(d)); n > l.largest.Load() {
			l.largest.Store(n)
		}
		deliver(d, from)
	})
}

// TestBridgeDropsACutRecord: an authentic datagram whose last record claims
// more bytes than it has delivers the records before it and counts a drop.
func TestBridgeDropsACutRecord(t *testing.T) {
	var sy bridged
	y := listenTestBridge(t, "y", testSecret, &sy)
	x := listenTestBridge(t, "x", testSecret, &bridged{})
	xy, _ := linked(t, x, y)
	d := new(bridgeBatch)
	d.n = bridgeHeaderLen
	d.add(3, []byte("whole"))
	d.add(4, []byte("cut"))
	binary.BigEndian.PutUint16(d.buf[d.n-3-2:], 200) // the second record's length
	y.open(d.buf[:xy.sealBatch(d.buf[:], d.n, &d.nonce)])
	if got := sy.got(); len(got) != 1 || got[0] != "x 3 whole" {
		t.Fatalf("y got %q, want the whole record only", got)
	}
	if y.Dropped() != 1 {
		t.Fatalf("%d drops, want 1", y.Dropped())
	}
}

// counting is a BridgeSink that counts the packets and their bytes.
type counting struct{ packets, bytes int }

func (c *counting) HandleBridged(_ string, _ uint64, pkt []byte) {
	c.packets++
	c.bytes += len(pkt)
}

// FuzzBridgeRecords feeds any opened plaintext to the record parser: it never
// panics, and what it accepts accounts for every byte.
func FuzzBridgeRecords(f *testing.F) {
	d := new(bridgeBatch)
	d.add(1, []byte("a packet"))
	d.add(2, nil)
	f.Add(d.buf[:d.n])
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, plain []byte) {
		var c counting
		b := &Bridge{sink: &c}
		if b.records("x", plain) && c.bytes+c.packets*recordHeaderLen != len(plain) {
			t.Fatalf("accepted %d packets of %d bytes from %d bytes", c.packets, c.bytes, len(plain))
		}
	})
}

// batchListener is a goroutineListener whose socket writes a batch of
// datagrams in one call (as the SFU's does with sendmmsg), counting the calls
// and the datagrams they carried.
type batchListener struct {
	goroutineListener
	calls, datagrams atomic.Int64
}

func (l *batchListener) listen(addr netip.AddrPort, deliver func([]byte, netip.AddrPort)) (BridgeSocket, error) {
	s, err := l.goroutineListener.listen(addr, deliver)
	if err != nil {
		return nil, err
	}
	return batchSocket{s, l}, nil
}

type batchSocket struct {
	BridgeSocket
	l *batchListener
}

func (s batchSocket) WriteBatch(bufs [][]byte, addr netip.AddrPort) (int, error) {
	s.l.calls.Add(1)
	for i, b := range bufs {
		if _, err := s.WriteToAddrPort(b, addr); err != nil {
			return i, err
		}
		s.l.datagrams.Add(1)
	}
	return len(bufs), nil
}

// TestBridgeWritesAFlushsDatagramsInOneCall: on a path of a 1500-byte MTU a
// video frame's packets fill a datagram each; a socket that writes batches
// gets them all in one call, and they arrive whole and in order.
func TestBridgeWritesAFlushsDatagramsInOneCall(t *testing.T) {
	var sy bridged
	var lx batchListener
	log, _ := testlog.NewLogger(t, "x bridge log", 0)
	x, err := ListenBridgeWith(lx.listen, "127.0.0.1:0", "x", testSecret, &bridged{}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	y := listenTestBridge(t, "y", testSecret, &sy)
	xy, _ := linked(t, x, y)
	xy.limit = bridgeBufLen
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var want []string
	for i := range 6 {
		pkt := bytes.Repeat([]byte{'a' + byte(i)}, 1100)
		if err := xy.Send(uint64(i), pkt); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("x %d %s", i, pkt))
	}
	if got := waitGot(t, &sy, 6); !slices.Equal(got, want) {
		t.Fatalf("y got %d packets, not the 6 sent in order", len(got))
	}
	if calls, n := lx.calls.Load(), lx.datagrams.Load(); calls != 1 || n != 6 {
		t.Fatalf("6 datagrams written in %d batch calls carrying %d, want one carrying 6", calls, n)
	}
	if s := x.Stats(); s.Sent != 6 || s.SendFailed != 0 {
		t.Fatalf("bridge stats %+v, want 6 sent", s)
	}
}

// TestBridgeHoldJoinsLaterPacketsUntilSendNow: with a hold, a packet waits
// for the ones sent after it, even after the sender yielded and the flusher
// took note of it, and a SendNow record sends them all at once, in order, in
// one datagram.
func TestBridgeHoldJoinsLaterPacketsUntilSendNow(t *testing.T) {
	var sy bridged
	x, y := listenTestBridge(t, "x", testSecret, &bridged{}), listenTestBridge(t, "y", testSecret, &sy)
	x.SetHold(time.Hour)
	xy, _ := linked(t, x, y)
	if err := xy.Send(4, []byte("first")); err != nil {
		t.Fatal(err)
	}
	// The flusher has taken the peer from its queue: without the hold it
	// would have sent the datagram by now.
	waitUntil(t, "the flusher to take the peer", func() bool { return len(x.flushes) == 0 && xy.dueAt().After(time.Now()) })
	if err := xy.Send(5, []byte("second")); err != nil {
		t.Fatal(err)
	}
	if got := sy.got(); len(got) != 0 {
		t.Fatalf("y got %q during the hold", got)
	}
	if err := xy.SendNow(6, []byte("keyframe, please")); err != nil {
		t.Fatal(err)
	}
	want := []string{"x 4 first", "x 5 second", "x 6 keyframe, please"}
	if got := waitGot(t, &sy, 3); !slices.Equal(got, want) {
		t.Fatalf("y got %q, want %q", got, want)
	}
	if n := y.datagrams.Load(); n != 1 {
		t.Fatalf("the held packets came in %d datagrams, want 1", n)
	}
}

// TestBridgeHoldEnds: a held packet leaves once its hold is over, not before,
// with nothing else sent to release it.
func TestBridgeHoldEnds(t *testing.T) {
	const hold = 50 * time.Millisecond
	var sy bridged
	x, y := listenTestBridge(t, "x", testSecret, &bridged{}), listenTestBridge(t, "y", testSecret, &sy)
	x.SetHold(hold)
	xy, _ := linked(t, x, y)
	for i := range 2 { // the second after the first went: the peer waits again
		sent := time.Now()
		if err := xy.Send(uint64(i), []byte("held")); err != nil {
			t.Fatal(err)
		}
		waitGot(t, &sy, i+1)
		if took := time.Since(sent); took < hold {
			t.Fatalf("packet %d arrived %s after it was sent, within its hold of %s", i, took, hold)
		}
	}
	if n := y.datagrams.Load(); n != 2 {
		t.Fatalf("2 packets a hold apart came in %d datagrams, want 2", n)
	}
}
