package turn

import (
	"crypto/tls"
	"fmt"
	"net"
)

// networksFor picks "udp6"/"tcp6" when addr's host is an IPv6 literal and
// "udp4"/"tcp4" otherwise: relays are IPv4 unless the operator asks for an
// IPv6 listen address.
func networksFor(addr string) (udpNet, tcpNet string) {
	host, _, err := net.SplitHostPort(addr)
	if err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
			return "udp6", "tcp6"
		}
	}
	return "udp4", "tcp4"
}

// chooseRelayIP returns the relay address announced to clients: publicIP if
// set, else the listen IP, else (listen IP unspecified) the first
// non-loopback address of an up interface in the same family, else
// loopback.
func chooseRelayIP(publicIP string, listenIP net.IP) (net.IP, error) {
	if publicIP != "" {
		ip := net.ParseIP(publicIP)
		if ip == nil {
			return nil, fmt.Errorf("public IP %q: not an IP address", publicIP)
		}
		return ip, nil
	}
	if !listenIP.IsUnspecified() {
		return listenIP, nil
	}
	wantV4 := listenIP.To4() != nil
	if ip := firstInterfaceIP(wantV4); ip != nil {
		return ip, nil
	}
	if wantV4 {
		return net.IPv4(127, 0, 0, 1), nil
	}
	return net.IPv6loopback, nil
}

// firstInterfaceIP returns the first global unicast address of an up,
// non-loopback interface in the wanted family, or nil.
func firstInterfaceIP(wantV4 bool) net.IP {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || !ipn.IP.IsGlobalUnicast() || (ipn.IP.To4() != nil) != wantV4 {
				continue
			}
			return ipn.IP
		}
	}
	return nil
}

// udpBufferSize is the receive and send buffer asked for on UDP sockets;
// the kernel caps it at net.core.rmem_max / wmem_max. Media arrives in
// bursts (a video keyframe is dozens of packets at once) and the default
// buffer of about 200 KiB overflows while a read loop is busy.
const udpBufferSize = 4 << 20

// growBuffers enlarges a UDP socket's kernel buffers, best effort: a
// smaller buffer only costs packets under load.
func growBuffers(conn net.PacketConn) {
	if c, ok := conn.(interface {
		SetReadBuffer(int) error
		SetWriteBuffer(int) error
	}); ok {
		_ = c.SetReadBuffer(udpBufferSize)
		_ = c.SetWriteBuffer(udpBufferSize)
	}
}

// newTLSListener wraps ln in TLS with a copy of cfg.
func newTLSListener(ln net.Listener, cfg *tls.Config) net.Listener {
	return tls.NewListener(ln, cfg.Clone())
}

// hostOnly strips a port and IPv6 brackets from a Host header value.
func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		return host[1 : len(host)-1]
	}
	return host
}
