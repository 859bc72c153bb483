package turn

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	pionturn "github.com/pion/turn/v5"
)

// meters holds the server's counters. All fields are atomics.
type meters struct {
	allocations  atomic.Int64  // relay sockets currently open
	relayedBytes atomic.Uint64 // bytes exchanged with peers on relay sockets

	refusedPerIP       atomic.Uint64 // allocations refused: the client IP held its share
	refusedTotal       atomic.Uint64 // allocations refused: the server held its maximum
	refusedTCP         atomic.Uint64 // RFC 6062 TCP allocations and Connects refused
	refusedCredentials atomic.Uint64 // requests with credentials of an ended session
	permissionsRefused atomic.Uint64 // permissions for a peer that is not a media address
	datagramsDropped   atomic.Uint64 // datagrams to or from a peer that is not a media socket
}

// errTCPRelayRefused answers RFC 6062 TCP allocations: tandem's media is UDP, and a TCP relay
// would let clients open connections to anything.
var errTCPRelayRefused = errors.New("TCP relaying (RFC 6062) is not offered")

// relayGenerator wraps one of pion's relay address generators: every
// allocation first takes a slot of the user's quota, and every relay socket
// it hands to pion enforces the relay policy, counts the bytes it carries,
// is tracked in the ledger so it can be closed when its session ends, and
// gives the slot back when closed. Safe for concurrent use (pion calls it
// from many goroutines).
type relayGenerator struct {
	inner  pionturn.RelayAddressGenerator
	quota  *userQuota
	policy *relayPolicy
	ledger *ledger
	meters *meters
}

// newRelayGenerator builds the generator that binds relay sockets to bindIP
// and announces relayIP, inside [minPort, maxPort] unless both are zero.
func newRelayGenerator(relayIP net.IP, bindIP string, minPort, maxPort uint16,
	quota *userQuota, policy *relayPolicy, l *ledger, m *meters,
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
	return &relayGenerator{inner: inner, quota: quota, policy: policy, ledger: l, meters: m}
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
	c := &relayConn{PacketConn: conn, policy: g.policy, meters: g.meters}
	c.release = g.releaser(conf.UserID, c)
	if conf.UserID != "" && !g.ledger.track(conf.UserID, c) {
		_ = c.Close()
		g.meters.refusedCredentials.Add(1)
		return nil, nil, fmt.Errorf("user %q: session ended", conf.UserID)
	}
	return c, addr, nil
}

// AllocateListener refuses RFC 6062 TCP allocations.
func (g *relayGenerator) AllocateListener(pionturn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	g.meters.refusedTCP.Add(1)
	return nil, nil, errTCPRelayRefused
}

// AllocateConn refuses RFC 6062 Connect (there are no TCP allocations to connect from).
func (g *relayGenerator) AllocateConn(pionturn.AllocateConnConfig) (net.Conn, error) {
	g.meters.refusedTCP.Add(1)
	return nil, errTCPRelayRefused
}

// releaser returns a function that, on its first call only, ends one
// allocation of user.
func (g *relayGenerator) releaser(user string, relay io.Closer) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			g.meters.allocations.Add(-1)
			g.quota.release(user)
			g.ledger.untrack(user, relay)
		})
	}
}

// relayConn is a UDP relay socket. It exchanges datagrams only with peers the relay policy
// permits (media ports on media addresses), drops and counts the rest, and adds the bytes
// it reads from and writes to peers to meters.relayedBytes. Zero allocations per packet.
type relayConn struct {
	net.PacketConn
	policy  *relayPolicy
	meters  *meters
	release func()
}

// ReadFrom returns the next datagram from a permitted peer; others are dropped.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		if !c.policy.permitPeer(addr) {
			c.meters.datagramsDropped.Add(1)
			continue
		}
		c.meters.relayedBytes.Add(uint64(n))
		return n, addr, nil
	}
}

// WriteTo sends p to addr if the policy permits it; otherwise it drops p, as UDP may, and
// counts it.
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if !c.policy.permitPeer(addr) {
		c.meters.datagramsDropped.Add(1)
		return len(p), nil
	}
	n, err := c.PacketConn.WriteTo(p, addr)
	if n > 0 {
		c.meters.relayedBytes.Add(uint64(n))
	}
	return n, err
}

// Close closes the socket and ends the allocation (once).
func (c *relayConn) Close() error {
	defer c.release()
	return c.PacketConn.Close()
}
