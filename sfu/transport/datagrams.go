package transport

import (
	"net"
	"net/netip"
)

// DatagramConn is a socket opened by ListenDatagrams (datagrams_linux.go). WriteToAddrPort
// is one sendto(2) from any goroutine, without allocation; a full send buffer drops the
// datagram (an error). WriteBatch writes several datagrams to one address with one
// sendmmsg(2) (sendbatch_linux.go) and returns how many it wrote. Close stops the reads; a
// handler call in progress may still finish after it returns.
type DatagramConn interface {
	WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error)
	WriteBatch(bufs [][]byte, addr netip.AddrPort) (int, error)
	LocalAddr() net.Addr
	Close() error
}
