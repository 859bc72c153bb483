package transport

import (
	"net"
	"net/netip"

	piontransport "github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"
)

// mediaNet is the transport.Net a peer's ICE agent opens its UDP sockets with
// (SettingEngine.SetNet). IPv4 sockets are opened by a poller of the Transport (polledConn, Linux);
// others are the wrapped Net's sockets in a mediaConn. Either way the peer's media packets are
// handled where the socket is read, by the inbound fast path, and the outbound fast path can
// write to the socket; everything else is the wrapped Net's.
type mediaNet struct {
	piontransport.Net
	t   *Transport
	in  *inbound
	out *outbound
}

// mediaSocket is what the outbound fast path needs of a peer's socket.
type mediaSocket interface {
	WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error)
	localPort() uint16
	transport() webrtc.ICEProtocol // UDP or TCP
	// receivedFrom reports whether ICE read a packet from addr on this socket.
	receivedFrom(addr netip.AddrPort) bool
}

// ListenUDP opens a socket for ICE.
func (n *mediaNet) ListenUDP(network string, laddr *net.UDPAddr) (piontransport.UDPConn, error) {
	if p := n.t.nextPoller(); p != nil && isUDP4(network, laddr) {
		c, err := listenPolled(p, laddr, n.in)
		if err != nil {
			return nil, err
		}
		n.out.addSocket(c)
		return c, nil
	}
	conn, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	udp, ok := conn.(*net.UDPConn)
	if !ok {
		return conn, nil // not a kernel socket (a virtual network): Pion's path only
	}
	c := newMediaConn(conn, udp, n.in)
	n.out.addSocket(c)
	return c, nil
}

// isUDP4 reports whether ListenUDP is asked for an IPv4 socket on a given address.
func isUDP4(network string, laddr *net.UDPAddr) bool {
	if laddr == nil || laddr.IP.To4() == nil {
		return false
	}
	return network == "udp4" || network == "udp"
}

// mediaConn is one ICE socket of a peer that the net package reads (IPv6, or systems without
// pollers). Pion's ICE candidate reads it on one goroutine (ReadFromAddrPort); mediaConn
// hands the SRTP and SRTCP packets it reads to the peer's inbound fast path and returns only
// what that path does not take (STUN, DTLS, and media before the SRTP keys are known) to
// Pion. Writes go straight to the socket.
type mediaConn struct {
	piontransport.UDPConn // every method not overridden below
	udp                   *net.UDPConn
	in                    *inbound
	port                  uint16 // the local port, to match ICE's selected pair
	seen                  seenAddrs
	scratch               scratch // used only by the reading goroutine
}

func newMediaConn(conn piontransport.UDPConn, udp *net.UDPConn, in *inbound) *mediaConn {
	c := &mediaConn{UDPConn: conn, udp: udp, in: in}
	if local, ok := udp.LocalAddr().(*net.UDPAddr); ok {
		c.port = uint16(local.Port)
	}
	return c
}

// ReadFromAddrPort implements ice.AddrPortReaderWriter, the read ICE uses.
func (c *mediaConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return readForPion(c.udp.ReadFromUDPAddrPort, b, c.in, &c.scratch, &c.seen)
}

// ReadFrom is ReadFromAddrPort for callers of net.PacketConn.
func (c *mediaConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}

// WriteToAddrPort implements ice.AddrPortReaderWriter: an allocation-free write.
func (c *mediaConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.udp.WriteToUDPAddrPort(b, addr)
}

// localPort implements mediaSocket.
func (c *mediaConn) localPort() uint16 { return c.port }

// transport implements mediaSocket.
func (c *mediaConn) transport() webrtc.ICEProtocol { return webrtc.ICEProtocolUDP }

// receivedFrom implements mediaSocket.
func (c *mediaConn) receivedFrom(addr netip.AddrPort) bool { return c.seen.has(addr) }
