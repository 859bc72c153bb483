package signaling

import "testing"

func TestMediaQuotaCountsIPv4AddressesAndIPv6Slash64s(t *testing.T) {
	q := newMediaQuota(2)
	for _, ip := range []string{"192.0.2.1", "192.0.2.1", "2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if !q.acquire(ip) {
			t.Fatalf("acquire %s refused within the cap", ip)
		}
	}
	for _, ip := range []string{"192.0.2.1", "::ffff:192.0.2.1", "2001:db8:1:2::77"} {
		if q.acquire(ip) {
			t.Errorf("acquire %s allowed over the cap", ip)
		}
	}
	if !q.acquire("192.0.2.2") || !q.acquire("2001:db8:1:3::1") {
		t.Error("another address or /64 was refused")
	}
	q.release("192.0.2.1")
	if !q.acquire("192.0.2.1") {
		t.Error("a released slot was not given back")
	}
	if q := newMediaQuota(0); !q.acquire("192.0.2.1") || !q.acquire("192.0.2.1") || !q.acquire("192.0.2.1") {
		t.Error("0 must mean no cap")
	}
}
