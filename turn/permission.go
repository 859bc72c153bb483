package turn

import (
	"net"
	"net/netip"
)

// refusedPrefixes are peer ranges a relay must not reach: the operator's
// internal networks and addresses that are not unicast on the internet.
var refusedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network", unspecified
	netip.MustParsePrefix("10.0.0.0/8"),     // private
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT, shared
	netip.MustParsePrefix("127.0.0.0/8"),    // loopback
	netip.MustParsePrefix("169.254.0.0/16"), // link-local
	netip.MustParsePrefix("172.16.0.0/12"),  // private
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("192.168.0.0/16"), // private
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("224.0.0.0/4"),    // multicast
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("::/128"),         // unspecified
	netip.MustParsePrefix("::1/128"),        // loopback
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("fc00::/7"),       // unique local
	netip.MustParsePrefix("fe80::/10"),      // link-local
	netip.MustParsePrefix("ff00::/8"),       // multicast
}

// nat64Prefix is the well-known NAT64 prefix; its last 32 bits are an IPv4
// address that the NAT64 gateway would reach.
var nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")

// peerFilter decides which peer addresses a client may relay to. It is
// immutable after construction and safe for concurrent use.
type peerFilter struct {
	allowLoopback bool
	allowed       map[netip.Addr]bool
}

func newPeerFilter(allowLoopback bool, allowedPeers []net.IP) *peerFilter {
	f := &peerFilter{allowLoopback: allowLoopback, allowed: make(map[netip.Addr]bool, len(allowedPeers))}
	for _, ip := range allowedPeers {
		if a, ok := netip.AddrFromSlice(ip); ok {
			f.allowed[a.Unmap()] = true
		}
	}
	return f
}

// permit is the pion PermissionHandler: it is called for CreatePermission,
// ChannelBind and Connect requests with the peer IP the client wants.
func (f *peerFilter) permit(_ net.Addr, peerIP net.IP) bool {
	a, ok := netip.AddrFromSlice(peerIP)
	if !ok {
		return false
	}
	a = a.Unmap().WithZone("")
	if f.allowed[a] {
		return true
	}
	if a.IsLoopback() {
		return f.allowLoopback
	}
	if nat64Prefix.Contains(a) {
		b := a.As16()
		return f.permitPublic(netip.AddrFrom4([4]byte(b[12:16])))
	}
	return f.permitPublic(a)
}

// permitPublic reports whether a lies outside every refused range.
func (f *peerFilter) permitPublic(a netip.Addr) bool {
	for _, p := range refusedPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
