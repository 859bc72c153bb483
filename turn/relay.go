package turn

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	pionturn "github.com/pion/turn/v5"
)

// meters holds the server's counters. All fields are atomics.
type meters struct {
	allocations  atomic.Int64  // relay sockets currently open
	relayedBytes atomic.Uint64 // bytes exchanged with peers on relay sockets
}

// relayGenerator wraps one of pion's relay address generators: every
// allocation first takes a slot of the user's quota, and every relay socket
// it hands to pion counts the bytes it carries and gives the slot back when
// closed. Safe for concurrent use (pion calls it from many goroutines).
type relayGenerator struct {
	inner  pionturn.RelayAddressGenerator
	quota  *userQuota
	meters *meters
}

// newRelayGenerator builds the generator that binds relay sockets to bindIP
// and announces relayIP, inside [minPort, maxPort] unless both are zero.
func newRelayGenerator(relayIP net.IP, bindIP string, minPort, maxPort uint16,
	quota *userQuota, m *meters,
) *relayGenerator {
	var inner pionturn.RelayAddressGenerator
	if minPort == 0 {
		inner = &pionturn.RelayAddressGeneratorStatic{RelayAddress: relayIP, Address: bindIP}
	} else {
		inner = &pionturn.RelayAddressGeneratorPortRange{
			RelayAddress: relayIP, Address: bindIP, MinPort: minPort, MaxPort: maxPort,
			MaxRetries: 50,
		}
	}
	return &relayGenerator{inner: inner, quota: quota, meters: m}
}

// Validate is called by pion when the server starts.
func (g *relayGenerator) Validate() error {
	if err := g.inner.Validate(); err != nil {
		return fmt.Errorf("relay address generator: %w", err)
	}
	return nil
}

// AllocatePacketConn opens a UDP relay socket for an allocation.
func (g *relayGenerator) AllocatePacketConn(conf pionturn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if !g.quota.acquire(conf.UserID) {
		return nil, nil, fmt.Errorf("user %q: %w", conf.UserID, errQuotaReached)
	}
	conn, addr, err := g.inner.AllocatePacketConn(conf)
	if err != nil {
		g.quota.release(conf.UserID)
		return nil, nil, fmt.Errorf("allocate UDP relay: %w", err)
	}
	growBuffers(conn)
	g.meters.allocations.Add(1)
	return &countingPacketConn{PacketConn: conn, meters: g.meters, release: g.releaser(conf.UserID)}, addr, nil
}

// AllocateListener opens a TCP relay listener for an RFC 6062 allocation.
func (g *relayGenerator) AllocateListener(conf pionturn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	if !g.quota.acquire(conf.UserID) {
		return nil, nil, fmt.Errorf("user %q: %w", conf.UserID, errQuotaReached)
	}
	ln, addr, err := g.inner.AllocateListener(conf)
	if err != nil {
		g.quota.release(conf.UserID)
		return nil, nil, fmt.Errorf("allocate TCP relay: %w", err)
	}
	g.meters.allocations.Add(1)
	return &countingListener{Listener: ln, meters: g.meters, release: g.releaser(conf.UserID)}, addr, nil
}

// AllocateConn dials a peer from a TCP allocation's relay address.
func (g *relayGenerator) AllocateConn(conf pionturn.AllocateConnConfig) (net.Conn, error) {
	conn, err := g.inner.AllocateConn(conf)
	if err != nil {
		return nil, fmt.Errorf("dial TCP relay peer: %w", err)
	}
	return &countingConn{Conn: conn, meters: g.meters}, nil
}

// releaser returns a function that, on its first call only, ends one
// allocation of user.
func (g *relayGenerator) releaser(user string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			g.meters.allocations.Add(-1)
			g.quota.release(user)
		})
	}
}

// countingPacketConn is a UDP relay socket that adds the bytes it reads from
// and writes to peers to meters.relayedBytes. Zero allocations per packet.
type countingPacketConn struct {
	net.PacketConn
	meters  *meters
	release func()
}

func (c *countingPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if n > 0 {
		c.meters.relayedBytes.Add(uint64(n))
	}
	return n, addr, err
}

func (c *countingPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	n, err := c.PacketConn.WriteTo(p, addr)
	if n > 0 {
		c.meters.relayedBytes.Add(uint64(n))
	}
	return n, err
}

// Close closes the socket and ends the allocation (once).
func (c *countingPacketConn) Close() error {
	defer c.release()
	return c.PacketConn.Close()
}

// countingListener is a TCP relay listener; the peer connections it accepts
// count their bytes.
type countingListener struct {
	net.Listener
	meters  *meters
	release func()
}

func (l *countingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, meters: l.meters}, nil
}

// Close closes the listener and ends the allocation (once).
func (l *countingListener) Close() error {
	defer l.release()
	return l.Listener.Close()
}

// countingConn is a TCP connection between a relay and a peer.
type countingConn struct {
	net.Conn
	meters *meters
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.meters.relayedBytes.Add(uint64(n))
	}
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.meters.relayedBytes.Add(uint64(n))
	}
	return n, err
}
