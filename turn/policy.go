package turn

import (
	"net"
	"net/netip"
)

// PortRange is an inclusive range of UDP ports.
type PortRange struct{ Min, Max uint16 }

// contains reports whether port lies in r.
func (r PortRange) contains(port int) bool {
	return port >= int(r.Min) && port <= int(r.Max)
}

// relayPolicy says which peers a relay may exchange datagrams with: tandem's own media
// sockets, that is the media ports (MediaPorts) on the media addresses (AllowedPeers, and
// loopback when AllowLoopback). TURN permissions name IPs only, so the IP check runs when a
// client asks for a permission (refused with 403) and the port check on every datagram the
// relay sends or receives (dropped and counted). It is immutable after construction and
// safe for concurrent use; its checks allocate nothing.
type relayPolicy struct {
	allowLoopback bool
	addrs         map[netip.Addr]bool
	ports         []PortRange
	meters        *meters
}

func newRelayPolicy(cfg Config, m *meters) *relayPolicy {
	p := &relayPolicy{allowLoopback: cfg.AllowLoopback, addrs: make(map[netip.Addr]bool),
		ports: append([]PortRange(nil), cfg.MediaPorts...), meters: m}
	for _, ip := range cfg.AllowedPeers {
		if a, ok := netip.AddrFromSlice(ip); ok {
			p.addrs[a.Unmap()] = true
		}
	}
	return p
}

// permit is pion's PermissionHandler, called for CreatePermission and ChannelBind with the
// peer IP the client wants. A refusal is answered with 403 Forbidden and counted.
func (p *relayPolicy) permit(_ net.Addr, peerIP net.IP) bool {
	if p.permitIP(peerIP) {
		return true
	}
	p.meters.permissionsRefused.Add(1)
	return false
}

// permitIP reports whether ip is one of the media addresses (or loopback, when allowed).
func (p *relayPolicy) permitIP(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	if p.addrs[a] {
		return true
	}
	return p.allowLoopback && a.IsLoopback()
}

// permitPeer reports whether a relay may exchange a datagram with addr: a media port on a
// media address. Anything but a *net.UDPAddr is refused.
func (p *relayPolicy) permitPeer(addr net.Addr) bool {
	u, ok := addr.(*net.UDPAddr)
	if !ok || !p.permitIP(u.IP) {
		return false
	}
	for _, r := range p.ports {
		if r.contains(u.Port) {
			return true
		}
	}
	return false
}
