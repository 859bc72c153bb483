package sfu

import (
	"net"
	"net/netip"
	"strings"
)

// refusedRanges are address ranges a client's ICE candidate may not name: the operator's
// internal networks and addresses that are not unicast on the internet. Without this filter
// a client could make the server send ICE checks into the operator's network.
var refusedRanges = []netip.Prefix{
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
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64: reaches IPv4 networks behind the gateway
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("fc00::/7"),       // unique local
	netip.MustParsePrefix("fe80::/10"),      // link-local
	netip.MustParsePrefix("ff00::/8"),       // multicast
}

// remoteFilter decides which remote ICE candidates the server accepts: none in a refused
// range, unless that range holds one of the server's own media addresses (a server on a
// private network serves that network; TANDEM_ICE_IPS=127.0.0.1 serves loopback). Immutable
// after construction; safe for concurrent use.
type remoteFilter struct {
	refused []netip.Prefix
}

// newRemoteFilter builds the filter for a server whose media addresses are own.
func newRemoteFilter(own []netip.Addr) *remoteFilter {
	f := &remoteFilter{}
	for _, p := range refusedRanges {
		exempt := false
		for _, a := range own {
			if p.Contains(a) {
				exempt = true
				break
			}
		}
		if !exempt {
			f.refused = append(f.refused, p)
		}
	}
	return f
}

// mediaAddrs lists the server's media addresses: its ICE IPs and public IP, or every address
// of an up interface when ICE uses them all.
func mediaAddrs(cfg Config) []netip.Addr {
	var out []netip.Addr
	add := func(s string) {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap())
		}
	}
	for _, s := range cfg.ICEIPs {
		add(s)
	}
	if cfg.PublicIP != "" {
		add(cfg.PublicIP)
	}
	if len(cfg.ICEIPs) == 0 {
		addrs, _ := net.InterfaceAddrs() // none listed: the filter refuses every refused range
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
				add(n.IP.String())
			}
		}
	}
	return out
}

// allowsAddr reports whether the server may send to ip.
func (f *remoteFilter) allowsAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range f.refused {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// allowsCandidate reports whether an ICE candidate line ("candidate:..." or
// "a=candidate:...") names an address the server may send to. Host names (mDNS .local
// candidates, which the server does not resolve) and lines it cannot read pass: Pion judges
// those itself.
func (f *remoteFilter) allowsCandidate(line string) bool {
	line = strings.TrimPrefix(strings.TrimSpace(line), "a=")
	rest, ok := strings.CutPrefix(line, "candidate:")
	if !ok {
		return true
	}
	// foundation component transport priority address port typ ...
	fields := strings.Fields(rest)
	if len(fields) < 5 {
		return true
	}
	ip, err := netip.ParseAddr(fields[4])
	if err != nil {
		return true
	}
	return f.allowsAddr(ip)
}

// stripCandidates removes the candidate lines of an SDP that the filter refuses, and returns
// the SDP and how many it removed.
func (f *remoteFilter) stripCandidates(sdp string) (string, int) {
	if !strings.Contains(sdp, "a=candidate:") {
		return sdp, 0
	}
	var b strings.Builder
	b.Grow(len(sdp))
	removed := 0
	for line := range strings.SplitAfterSeq(sdp, "\n") {
		if strings.HasPrefix(line, "a=candidate:") && !f.allowsCandidate(line) {
			removed++
			continue
		}
		b.WriteString(line)
	}
	return b.String(), removed
}

// refusesSource reports whether a datagram from addr that would go to Pion's ICE agent must be
// dropped instead (and counts it): a client could otherwise make the server answer, and
// learn as a peer-reflexive candidate, an address in a refused range.
func (s *SFU) refusesSource(addr netip.AddrPort) bool {
	if s.remotes.allowsAddr(addr.Addr()) {
		return false
	}
	s.counters.sourcesRefused.Add(1)
	return true
}
