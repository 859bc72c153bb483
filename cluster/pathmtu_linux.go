//go:build linux

package cluster

import (
	"net"
	"net/netip"
	"syscall"
)

// pathMTU is the MTU of the route to addr as the kernel knows it (IP_MTU of a
// UDP socket connected to it: 65536 on loopback), or 1500 if it cannot tell.
func pathMTU(addr netip.AddrPort) int {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr)) // sends nothing
	if err != nil {
		return 1500
	}
	defer conn.Close()
	raw, err := conn.SyscallConn()
	if err != nil {
		return 1500
	}
	mtu := 1500
	_ = raw.Control(func(fd uintptr) {
		level, opt := syscall.IPPROTO_IP, syscall.IP_MTU
		if addr.Addr().Unmap().Is6() {
			level, opt = syscall.IPPROTO_IPV6, syscall.IPV6_MTU
		}
		if v, err := syscall.GetsockoptInt(int(fd), level, opt); err == nil && v > 0 {
			mtu = v
		}
	})
	return mtu
}
