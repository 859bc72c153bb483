package moderation

import (
	"net/netip"
	"slices"
	"time"
)

// banIndex finds the ban that applies to a client in a few map look-ups:
// address bans are kept by prefix length, so checking an address masks it
// once per length in use (a handful: /32 and /64 for clients, a few CIDR
// lengths) and looks each up. It does no locking: Moderator guards it.
type banIndex struct {
	byLen      map[int]map[netip.Prefix]Ban // prefix length -> masked prefix -> ban
	lens4      []int                        // lengths in use for IPv4, sorted
	lens6      []int                        // lengths in use for IPv6, sorted
	byIdentity map[string]Ban
}

func newBanIndex() *banIndex {
	return &banIndex{byLen: map[int]map[netip.Prefix]Ban{}, byIdentity: map[string]Ban{}}
}

// put adds or replaces the ban of t.
func (x *banIndex) put(t Target, b Ban) {
	if t.Identity != "" {
		x.byIdentity[t.Identity] = b
		return
	}
	key := lenKey(t.Prefix)
	m := x.byLen[key]
	if m == nil {
		m = map[netip.Prefix]Ban{}
		x.byLen[key] = m
		x.relist()
	}
	m[t.Prefix] = b
}

// remove drops the ban of t.
func (x *banIndex) remove(t Target) {
	if t.Identity != "" {
		delete(x.byIdentity, t.Identity)
		return
	}
	key := lenKey(t.Prefix)
	if m := x.byLen[key]; m != nil {
		delete(m, t.Prefix)
		if len(m) == 0 {
			delete(x.byLen, key)
			x.relist()
		}
	}
}

// lenKey keeps IPv4 and IPv6 lengths apart: IPv6 lengths are offset by 1000.
func lenKey(p netip.Prefix) int {
	if p.Addr().Is4() {
		return p.Bits()
	}
	return 1000 + p.Bits()
}

func (x *banIndex) relist() {
	x.lens4, x.lens6 = x.lens4[:0], x.lens6[:0]
	for k := range x.byLen {
		if k >= 1000 {
			x.lens6 = append(x.lens6, k)
		} else {
			x.lens4 = append(x.lens4, k)
		}
	}
	slices.Sort(x.lens4)
	slices.Sort(x.lens6)
}

// find returns the active ban for addr (invalid for none) or identity ("" for
// none) at now; of several, the one that ends last.
func (x *banIndex) find(addr netip.Addr, identity string, now time.Time) (Ban, bool) {
	var best Ban
	found := false
	consider := func(b Ban) {
		if b.Active(now) && (!found || b.Until.After(best.Until)) {
			best, found = b, true
		}
	}
	if identity != "" {
		if b, ok := x.byIdentity[identity]; ok {
			consider(b)
		}
	}
	if addr.IsValid() {
		addr = addr.Unmap()
		lens, offset := x.lens4, 0
		if addr.Is6() {
			lens, offset = x.lens6, 1000
		}
		for _, k := range lens {
			p, err := addr.Prefix(k - offset)
			if err != nil {
				continue
			}
			if b, ok := x.byLen[k][p]; ok {
				consider(b)
			}
		}
	}
	return best, found
}

// count is how many bans are active at now.
func (x *banIndex) count(now time.Time) int {
	n := 0
	for _, b := range x.byIdentity {
		if b.Active(now) {
			n++
		}
	}
	for _, m := range x.byLen {
		for _, b := range m {
			if b.Active(now) {
				n++
			}
		}
	}
	return n
}
