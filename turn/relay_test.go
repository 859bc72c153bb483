package turn

import (
	"net"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v5"
)

// nullPacketConn is an in-memory PacketConn that reads datagrams from the addresses in from,
// round robin, writes nothing but reports full sizes, and counts what it was asked to write.
type nullPacketConn struct {
	net.PacketConn
	from    []net.Addr
	next    int
	written int
	closed  int
}

func (c *nullPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	a := c.from[c.next%len(c.from)]
	c.next++
	return len(p), a, nil
}
func (c *nullPacketConn) WriteTo(p []byte, _ net.Addr) (int, error) { c.written++; return len(p), nil }
func (c *nullPacketConn) Close() error                              { c.closed++; return nil }

var (
	mediaPeer = &net.UDPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 50000}
	otherPort = &net.UDPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 3000}
	stranger  = &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 50000}
)

func testPolicy(m *meters) *relayPolicy {
	return newRelayPolicy(Config{AllowedPeers: []net.IP{mediaPeer.IP},
		MediaPorts: []PortRange{{Min: 50000, Max: 50100}}}, m)
}

func TestRelayConnPassesOnlyMediaSockets(t *testing.T) {
	m := &meters{}
	inner := &nullPacketConn{from: []net.Addr{otherPort, stranger, mediaPeer}}
	c := &relayConn{PacketConn: inner, policy: testPolicy(m), meters: m, release: func() {}}

	buf := make([]byte, 1200)
	n, from, err := c.ReadFrom(buf)
	if err != nil || from != mediaPeer || n != 1200 {
		t.Fatalf("ReadFrom = %d, %v, %v; want the media peer's datagram, the others skipped", n, from, err)
	}
	for _, to := range []net.Addr{otherPort, stranger} {
		if n, err := c.WriteTo(buf[:300], to); n != 300 || err != nil {
			t.Fatalf("WriteTo(%v) = %d, %v; want a silent drop", to, n, err)
		}
	}
	if inner.written != 0 {
		t.Fatalf("%d datagrams reached a peer that is not a media socket", inner.written)
	}
	if _, err := c.WriteTo(buf[:300], mediaPeer); err != nil || inner.written != 1 {
		t.Fatalf("WriteTo(media peer): err %v, written %d", err, inner.written)
	}
	if got := m.datagramsDropped.Load(); got != 4 {
		t.Errorf("dropped datagrams = %d, want 4", got)
	}
	if got := m.relayedBytes.Load(); got != 1500 {
		t.Errorf("relayed bytes = %d, want 1500 (dropped datagrams not counted)", got)
	}
}

func TestRelayPathDoesNotAllocate(t *testing.T) {
	m := &meters{}
	inner := &nullPacketConn{from: []net.Addr{stranger, mediaPeer}}
	c := &relayConn{PacketConn: inner, policy: testPolicy(m), meters: m, release: func() {}}
	buf := make([]byte, 1200)
	allocs := testing.AllocsPerRun(1000, func() {
		_, _, _ = c.ReadFrom(buf)
		_, _ = c.WriteTo(buf, mediaPeer)
		_, _ = c.WriteTo(buf, stranger)
	})
	if allocs != 0 {
		t.Errorf("relay socket wrapper allocates %.1f times per packet, want 0", allocs)
	}
}

func TestRelayGeneratorEnforcesQuotaAndRefusesTCP(t *testing.T) {
	m := &meters{}
	l := newLedger(time.Minute)
	l.issue("alice")
	g := newRelayGenerator(net.IPv4(127, 0, 0, 1), "127.0.0.1", 0, 0, newUserQuota(1), testPolicy(m), l, m)
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	conf := pionturn.AllocateListenerConfig{Network: "udp4", UserID: "alice"}
	conn, _, err := g.AllocatePacketConn(conf)
	if err != nil {
		t.Fatalf("first allocation: %v", err)
	}
	if _, _, err := g.AllocatePacketConn(conf); err == nil {
		t.Errorf("second UDP allocation beyond quota 1 succeeded")
	}
	if m.allocations.Load() != 1 {
		t.Errorf("allocations = %d, want 1", m.allocations.Load())
	}
	_ = conn.Close()
	if m.allocations.Load() != 0 {
		t.Errorf("allocations after closing all = %d, want 0", m.allocations.Load())
	}
	if _, _, err := g.AllocateListener(pionturn.AllocateListenerConfig{Network: "tcp4", UserID: "alice"}); err == nil {
		t.Errorf("TCP allocation succeeded, want refused")
	}
	if _, err := g.AllocateConn(pionturn.AllocateConnConfig{Network: "tcp4", UserID: "alice"}); err == nil {
		t.Errorf("TCP Connect succeeded, want refused")
	}
	if got := m.refusedTCP.Load(); got != 2 {
		t.Errorf("refused TCP = %d, want 2", got)
	}
	if _, _, err := g.AllocatePacketConn(pionturn.AllocateListenerConfig{Network: "udp4", UserID: "bob"}); err == nil {
		t.Errorf("allocation for a user the ledger does not hold succeeded")
	}
}

func BenchmarkRelayConn(b *testing.B) {
	m := &meters{}
	inner := &nullPacketConn{from: []net.Addr{mediaPeer}}
	c := &relayConn{PacketConn: inner, policy: testPolicy(m), meters: m, release: func() {}}
	buf := make([]byte, 1200)
	b.ReportAllocs()
	b.SetBytes(2 * int64(len(buf)))
	for b.Loop() {
		_, _, _ = c.ReadFrom(buf)
		_, _ = c.WriteTo(buf, mediaPeer)
	}
}
