package turn

import (
	"net"
	"testing"

	pionturn "github.com/pion/turn/v5"
)

// nullPacketConn is an in-memory PacketConn that reads and writes nothing
// but reports full sizes, so tests measure only the wrapper's cost.
type nullPacketConn struct {
	net.PacketConn
	addr   net.Addr
	closed int
}

func (c *nullPacketConn) ReadFrom(p []byte) (int, net.Addr, error)  { return len(p), c.addr, nil }
func (c *nullPacketConn) WriteTo(p []byte, _ net.Addr) (int, error) { return len(p), nil }
func (c *nullPacketConn) Close() error                              { c.closed++; return nil }

func TestCountingPacketConnCountsAndReleasesOnce(t *testing.T) {
	m := &meters{}
	quota := newUserQuota(1)
	g := &relayGenerator{quota: quota, meters: m}
	if !quota.acquire("alice") {
		t.Fatal("fresh quota refused")
	}
	m.allocations.Add(1)
	inner := &nullPacketConn{addr: &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9}}
	c := &countingPacketConn{PacketConn: inner, meters: m, release: g.releaser("alice")}

	buf := make([]byte, 1200)
	if _, _, err := c.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteTo(buf[:300], inner.addr); err != nil {
		t.Fatal(err)
	}
	if got := m.relayedBytes.Load(); got != 1500 {
		t.Errorf("relayed bytes = %d, want 1500", got)
	}
	_ = c.Close()
	_ = c.Close()
	if got := m.allocations.Load(); got != 0 {
		t.Errorf("allocations after two Closes = %d, want 0", got)
	}
	if !quota.acquire("alice") || quota.acquire("alice") {
		t.Errorf("quota after release: want exactly one free slot again")
	}
}

func TestRelayPathDoesNotAllocate(t *testing.T) {
	m := &meters{}
	inner := &nullPacketConn{addr: &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9}}
	c := &countingPacketConn{PacketConn: inner, meters: m, release: func() {}}
	buf := make([]byte, 1200)
	allocs := testing.AllocsPerRun(1000, func() {
		_, _, _ = c.ReadFrom(buf)
		_, _ = c.WriteTo(buf, inner.addr)
	})
	if allocs != 0 {
		t.Errorf("relay socket wrapper allocates %.1f times per packet pair, want 0", allocs)
	}
}

func TestRelayGeneratorEnforcesQuota(t *testing.T) {
	m := &meters{}
	g := newRelayGenerator(net.IPv4(127, 0, 0, 1), "127.0.0.1", 0, 0, newUserQuota(1), m)
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
	if _, _, err := g.AllocateListener(pionturn.AllocateListenerConfig{Network: "tcp4", UserID: "alice"}); err == nil {
		t.Errorf("TCP allocation beyond quota 1 succeeded")
	}
	if m.allocations.Load() != 1 {
		t.Errorf("allocations = %d, want 1", m.allocations.Load())
	}
	_ = conn.Close()
	ln, _, err := g.AllocateListener(pionturn.AllocateListenerConfig{Network: "tcp4", UserID: "alice"})
	if err != nil {
		t.Fatalf("TCP allocation after release: %v", err)
	}
	_ = ln.Close()
	if m.allocations.Load() != 0 {
		t.Errorf("allocations after closing all = %d, want 0", m.allocations.Load())
	}
}

func BenchmarkCountingPacketConn(b *testing.B) {
	m := &meters{}
	inner := &nullPacketConn{addr: &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9}}
	c := &countingPacketConn{PacketConn: inner, meters: m, release: func() {}}
	buf := make([]byte, 1200)
	b.ReportAllocs()
	b.SetBytes(2 * int64(len(buf)))
	for b.Loop() {
		_, _, _ = c.ReadFrom(buf)
		_, _ = c.WriteTo(buf, inner.addr)
	}
}
