package cluster

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"

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
// beyond a local forward: sealing and sendto on one instance, opening on the
// other. Not counted: the receiving instance's recvfrom of the datagram.
func BenchmarkBridgePacket(b *testing.B) {
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
	pkt, buf, nonce := make([]byte, 1100), make([]byte, bridgeBufLen), new([12]byte)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		if err := xy.Send(3, pkt); err != nil {
			b.Fatal(err)
		}
		y.open(buf[:xy.seal(buf, nonce, 3, pkt)])
	}
}
