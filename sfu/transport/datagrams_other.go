//go:build !linux

package transport

import (
	"errors"
	"net/netip"
)

// ListenDatagrams needs the pollers, which exist on Linux only.
func (t *Transport) ListenDatagrams(netip.AddrPort, func([]byte, netip.AddrPort)) (DatagramConn, error) {
	return nil, errors.New("listen datagrams: no pollers on this system")
}
