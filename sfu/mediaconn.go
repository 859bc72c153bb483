package sfu

import (
	"net"
	"net/netip"

	"github.com/pion/transport/v5"
)

// mediaNet is the transport.Net a peer's ICE agent opens its UDP sockets with
// (SettingEngine.SetNet). It wraps each socket in a mediaConn, so the peer's media packets
// can be handled on the socket's read goroutine; everything else is the wrapped Net's.
type mediaNet struct {
	transport.Net
	in *inbound
}

// ListenUDP opens the socket with the wrapped Net and wraps it in a mediaConn.
func (n *mediaNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	conn, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	udp, ok := conn.(*net.UDPConn)
	if !ok {
		return conn, nil // not a kernel socket (a virtual network): Pion's path only
	}
	return newMediaConn(conn, udp, n.in), nil
}

// mediaConn is one ICE host socket of a peer. Pion's ICE candidate reads it on one goroutine
// (ReadFromAddrPort); mediaConn hands the SRTP and SRTCP packets it reads to the peer's
// inbound fast path and returns only what that path does not take (STUN, DTLS, and media
// before the SRTP keys are known) to Pion. Writes go straight to the socket.
type mediaConn struct {
	transport.UDPConn // every method not overridden below
	io                packetIO
	in                *inbound
	scratch           inboundScratch // used only by the reading goroutine
}

func newMediaConn(conn transport.UDPConn, udp *net.UDPConn, in *inbound) *mediaConn {
	return &mediaConn{UDPConn: conn, io: newPacketIO(udp), in: in}
}

// ReadFromAddrPort implements ice.AddrPortReaderWriter, the read ICE uses.
func (c *mediaConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, addr, err := c.io.recv(b)
		if err != nil || !c.in.take(b[:n], &c.scratch) {
			return n, addr, err
		}
	}
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
	return c.io.send(b, addr)
}

// packetIO is how a mediaConn reads and writes its socket: with the net package (netIO), or
// with raw system calls where that is supported (rawIO, mediaconn_linux.go).
type packetIO interface {
	recv(b []byte) (int, netip.AddrPort, error)
	send(b []byte, addr netip.AddrPort) (int, error)
}

// netIO is packetIO through the net package.
type netIO struct{ udp *net.UDPConn }

func (n netIO) recv(b []byte) (int, netip.AddrPort, error) { return n.udp.ReadFromUDPAddrPort(b) }

func (n netIO) send(b []byte, addr netip.AddrPort) (int, error) {
	return n.udp.WriteToUDPAddrPort(b, addr)
}
