package moderation

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkCheck is the ban check a connecting client costs with 100,000
// bans in force (IPv4 addresses, IPv6 /64s, CIDR prefixes and identities).
// Target: under 5 µs.
func BenchmarkCheck(b *testing.B) {
	clk := newClock()
	m := open(b, b.TempDir(), clk, nil)
	until := clk.now().Add(time.Hour)
	m.mu.Lock()
	for i := range 100_000 {
		var t Target
		switch i % 4 {
		case 0:
			t = AddrTarget(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		case 1:
			t, _ = ParseTarget(fmt.Sprintf("2001:db8:%x:%x::1", i>>16, i&0xffff))
		case 2:
			t, _ = ParseTarget(fmt.Sprintf("172.%d.%d.0/%d", (i>>8)&0xff, i&0xff, 20+i%5))
		default:
			t = IdentityTarget(fmt.Sprintf("user%d", i))
		}
		m.index.put(t, Ban{Target: t.String(), Until: until})
	}
	m.mu.Unlock()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			m.Check("192.0.2.1", "someone")
		} else {
			m.Check("2001:db8:ffff:1::7", "")
		}
	}
}

// BenchmarkFile is storing one report (a bbolt write and fsync) and
// counting its reporters.
func BenchmarkFile(b *testing.B) {
	m := open(b, b.TempDir(), newClock(), nil)
	for i := 0; b.Loop(); i++ {
		report(b, m, fmt.Sprintf("10.1.%d.%d", (i>>8)&0xff, i&0xff), fmt.Sprintf("10.2.0.%d", i%200))
	}
}
