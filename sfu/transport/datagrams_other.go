//go:build !linux

package transport

import (
	"errors"
	"net"
	"net/netip"
)

// DatagramConn is a socket opened by ListenDatagrams (datagrams_linux.go).
type DatagramConn interface {
	WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error)
	LocalAddr() net.Addr
	Close() error
}

// ListenDatagrams needs the pollers, which exist on Linux only.
func (t *Transport) ListenDatagrams(netip.AddrPort, func([]byte, netip.AddrPort)) (DatagramConn, error) {
	return nil, errors.New("listen datagrams: no pollers on this system")
}
