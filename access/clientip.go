package access

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// proxyList is the set of trusted reverse proxies.
type proxyList []netip.Prefix

// parseProxies reads IPs ("10.0.0.5") and prefixes ("10.0.0.0/8").
func parseProxies(list []string) (proxyList, error) {
	out := make(proxyList, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: not an IP address or CIDR prefix", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func (l proxyList) trusts(a netip.Addr) bool {
	for _, p := range l {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the address of the client behind r. When the peer is a
// trusted proxy, it is the right-most X-Forwarded-For entry that is not a
// trusted proxy itself (entries further left can be forged by the client),
// and fromProxy is true.
func (l proxyList) clientIP(r *http.Request) (ip string, fromProxy bool) {
	peer := peerAddr(r.RemoteAddr)
	if !peer.IsValid() {
		return r.RemoteAddr, false
	}
	if len(l) == 0 || !l.trusts(peer) {
		return peer.String(), false
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !l.trusts(a) {
			return a.String(), true
		}
	}
	return peer.String(), false
}

// peerAddr parses the IP of a "host:port" remote address.
func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// ipKey is the per-IP table's key: the IPv4 address, or the IPv6 /64
// prefix (one household or phone usually holds a whole /64).
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// clientAddr renders ip as a RemoteAddr ("host:port"); the port of a client
// seen through a proxy is unknown, so it is 0.
func clientAddr(ip string) string {
	return net.JoinHostPort(ip, "0")
}
