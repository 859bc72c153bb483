package moderation

import (
	"fmt"
	"net/netip"
	"strings"
)

// TargetError is the error for a ban target that does not parse.
type TargetError struct {
	Target string
	Why    string
}

// Error describes the target and what is wrong with it.
func (e *TargetError) Error() string { return fmt.Sprintf("ban target %q: %s", e.Target, e.Why) }

// identityPrefix marks a ban target that is an access token's subject
// rather than an address.
const identityPrefix = "identity:"

// Target is what a ban applies to: an address prefix (an IPv4 address is a
// /32, an IPv6 client's address is its /64, or any CIDR prefix), or an
// identity (the subject of an access token). Its String form is the ban's
// key: "203.0.113.7", "2001:db8:1:2::/64", "10.0.0.0/8" or "identity:alice".
type Target struct {
	Prefix   netip.Prefix // valid for an address target
	Identity string       // set for an identity target
}

// ParseTarget reads a ban target: an IP address (IPv6 widened to its /64),
// a CIDR prefix, or "identity:" followed by an access token subject.
func ParseTarget(s string) (Target, error) {
	s = strings.TrimSpace(s)
	if id, ok := strings.CutPrefix(s, identityPrefix); ok {
		if id == "" {
			return Target{}, &TargetError{s, "the identity is empty"}
		}
		return Target{Identity: id}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Target{}, &TargetError{s, "not a CIDR prefix: " + err.Error()}
		}
		a := p.Addr().Unmap()
		bits := p.Bits()
		if p.Addr().Is4In6() {
			bits -= 96
		}
		if bits < 0 {
			return Target{}, &TargetError{s, "prefix too short"}
		}
		return Target{Prefix: netip.PrefixFrom(a, bits).Masked()}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return Target{}, &TargetError{s, "not an IP address, CIDR prefix or identity:NAME"}
	}
	return AddrTarget(a), nil
}

// AddrTarget is the target a client address is counted and banned under:
// the IPv4 address itself, or the /64 of an IPv6 address.
func AddrTarget(a netip.Addr) Target {
	a = a.Unmap()
	if a.Is4() {
		return Target{Prefix: netip.PrefixFrom(a, 32)}
	}
	p, _ := a.Prefix(64)
	return Target{Prefix: p}
}

// IdentityTarget is the target of an access token's subject.
func IdentityTarget(identity string) Target { return Target{Identity: identity} }

// String renders the target as ParseTarget reads it.
func (t Target) String() string {
	if t.Identity != "" {
		return identityPrefix + t.Identity
	}
	if t.Prefix.Addr().Is4() && t.Prefix.Bits() == 32 {
		return t.Prefix.Addr().String()
	}
	return t.Prefix.String()
}

// isIdentity reports whether s names an identity target.
func isIdentity(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), identityPrefix) }

// clientKey is the address key of ip as a string ("" when ip does not parse).
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	return AddrTarget(a).String()
}
