package transport

import (
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// peerUDPMux is the SFU's muxed UDP port as one peer's ICE agent sees it: Pion's mux, whose
// per-peer connections are wrapped in muxConns.
type peerUDPMux struct {
	ice.UDPMux
	in  *inbound
	out *outbound
}

// GetConn implements ice.UDPMux.
func (m *peerUDPMux) GetConn(ufrag string, addr net.Addr) (net.PacketConn, error) {
	conn, err := m.UDPMux.GetConn(ufrag, addr)
	if err != nil {
		return nil, err
	}
	return newMuxConn(conn, webrtc.ICEProtocolUDP, m.in, m.out), nil
}

// peerTCPMux is the SFU's ICE-TCP listener as one peer's ICE agent sees it: Pion's mux, whose
// per-peer connections are wrapped in muxConns.
type peerTCPMux struct {
	ice.TCPMux
	in  *inbound
	out *outbound
}

// GetConnByUfrag implements ice.TCPMux.
func (m *peerTCPMux) GetConnByUfrag(ufrag string, isIPv6 bool, local net.IP) (net.PacketConn, error) {
	conn, err := m.TCPMux.GetConnByUfrag(ufrag, isIPv6, local)
	if err != nil {
		return nil, err
	}
	return newMuxConn(conn, webrtc.ICEProtocolTCP, m.in, m.out), nil
}

// muxConn is a peer's share of a socket Pion's muxes own: the muxed UDP port, or the peer's
// ICE-TCP connections. Like a mediaConn it hands the SRTP and SRTCP it reads to the peer's
// inbound fast path on ICE's read goroutine, and the outbound fast path writes through it, so
// the fast paths cover every transport. Pion's mux still reads the socket and copies each
// packet to this connection.
type muxConn struct {
	net.PacketConn
	addrPort ice.AddrPortReaderWriter // PacketConn's allocation-free methods, if it has them
	protocol webrtc.ICEProtocol
	port     uint16
	in       *inbound
	seen     seenAddrs // where the packets ICE read came from
	scratch  scratch   // used only by the reading goroutine

	dst atomic.Pointer[muxDest] // the last destination of a write, as a net.Addr
}

// muxDest caches the net.Addr of a destination for connections without WriteToAddrPort.
type muxDest struct {
	ap netip.AddrPort
	na net.Addr
}

func newMuxConn(conn net.PacketConn, protocol webrtc.ICEProtocol, in *inbound, out *outbound) *muxConn {
	c := &muxConn{PacketConn: conn, protocol: protocol, in: in}
	c.addrPort, _ = conn.(ice.AddrPortReaderWriter)
	switch a := conn.LocalAddr().(type) {
	case *net.UDPAddr:
		c.port = uint16(a.Port)
	case *net.TCPAddr:
		c.port = uint16(a.Port)
	}
	out.addSocket(c)
	return c
}

// ReadFromAddrPort implements ice.AddrPortReaderWriter, the read ICE prefers: the next
// packet the fast path does not take.
func (c *muxConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return readForPion(c.readOne, b, c.in, &c.scratch, &c.seen)
}

// ReadFrom implements net.PacketConn: ReadFromAddrPort for callers of net.PacketConn.
func (c *muxConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, c.netAddr(addr), nil
}

// readOne reads one packet of the mux's connection.
func (c *muxConn) readOne(b []byte) (int, netip.AddrPort, error) {
	if c.addrPort != nil {
		return c.addrPort.ReadFromAddrPort(b)
	}
	n, addr, err := c.PacketConn.ReadFrom(b)
	return n, addrPortOf(addr), err
}

// WriteToAddrPort implements ice.AddrPortReaderWriter and mediaSocket.
func (c *muxConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if c.addrPort != nil {
		return c.addrPort.WriteToAddrPort(b, addr)
	}
	d := c.dst.Load()
	if d == nil || d.ap != addr {
		d = &muxDest{ap: addr, na: c.netAddr(addr)}
		c.dst.Store(d)
	}
	return c.PacketConn.WriteTo(b, d.na)
}

func (c *muxConn) netAddr(addr netip.AddrPort) net.Addr {
	if c.protocol == webrtc.ICEProtocolTCP {
		return net.TCPAddrFromAddrPort(addr)
	}
	return net.UDPAddrFromAddrPort(addr)
}

// localPort implements mediaSocket.
func (c *muxConn) localPort() uint16 { return c.port }

// transport implements mediaSocket.
func (c *muxConn) transport() webrtc.ICEProtocol { return c.protocol }

// receivedFrom implements mediaSocket.
func (c *muxConn) receivedFrom(addr netip.AddrPort) bool { return c.seen.has(addr) }

// addrPortOf converts a UDP or TCP address; the zero AddrPort for others.
func addrPortOf(addr net.Addr) netip.AddrPort {
	switch a := addr.(type) {
	case *net.UDPAddr:
		return a.AddrPort()
	case *net.TCPAddr:
		return a.AddrPort()
	}
	return netip.AddrPort{}
}
