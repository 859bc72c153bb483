package sfu

import (
	"net/netip"

	"github.com/tandemchat/tandem/sfu/transport"
)

// ListenDatagrams opens a UDP socket on addr that the SFU's media pollers read with the
// clients' sockets, handing each datagram to handle on a poller's goroutine (b valid only
// during the call; handle must not block). The server reads the cluster's media bridge so
// (cluster.BridgeListener). It fails where the transport has no pollers (not Linux, or an
// IPv6 address); the caller then reads the socket itself.
func (s *SFU) ListenDatagrams(addr netip.AddrPort, handle func(b []byte, from netip.AddrPort)) (transport.DatagramConn, error) {
	return s.transport.ListenDatagrams(addr, handle)
}
