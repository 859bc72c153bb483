//go:build linux

package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Datagrams of the server's own: a UDP socket that one of the pollers reads like a peer's,
// for the cluster's media bridge between instances. Its datagrams are handed over on the
// poller's goroutine in the same polls as the clients' media, so they cost no wake-up of a
// goroutine of their own, and a busy poller never leaves them waiting for the runtime's
// network poller (with GOMAXPROCS=1 a goroutine parked there waits up to the runtime's
// 10 ms while the poller keeps the processor busy).

// datagramReadBuffer is the socket receive buffer asked for (the kernel may cap it).
const datagramReadBuffer = 4 << 20

// ListenDatagrams opens an IPv4 UDP socket bound to laddr and hands every datagram it
// receives to handle, on a poller's goroutine: b is valid only during the call, and handle
// must not block. It fails where there are no pollers (IPv6 addresses included).
func (t *Transport) ListenDatagrams(laddr netip.AddrPort, handle func(b []byte, from netip.AddrPort)) (DatagramConn, error) {
	if !laddr.Addr().Unmap().Is4() {
		return nil, fmt.Errorf("listen datagrams on %s: the pollers read IPv4 sockets only", laddr)
	}
	p := t.nextPoller()
	if p == nil {
		return nil, errors.New("listen datagrams: no pollers")
	}
	a := net.UDPAddrFromAddrPort(netip.AddrPortFrom(laddr.Addr().Unmap(), laddr.Port()))
	c, err := listenPolled(p, a, datagramHandler(handle))
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(datagramReadBuffer) // best effort, as for the muxed port
	return c, nil
}

// datagramHandler takes every datagram: nothing read on such a socket is Pion's.
type datagramHandler func(b []byte, from netip.AddrPort)

func (h datagramHandler) takeFrom(b []byte, from netip.AddrPort, _ *scratch) bool {
	h(b, from)
	return true
}
