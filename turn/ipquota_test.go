package turn

import (
	"net"
	"testing"
	"time"
)

func TestIPQuotaCountsPrefixesAndLapsesFailedReservations(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	q := newIPQuota(2, 3, func() time.Time { return now })
	a1 := &net.UDPAddr{IP: net.ParseIP("2001:db8:1:2::1"), Port: 1000}
	a2 := &net.TCPAddr{IP: net.ParseIP("2001:db8:1:2::ffff"), Port: 2000} // same /64
	a3 := &net.UDPAddr{IP: net.ParseIP("2001:db8:1:2::7"), Port: 3000}
	b := &net.UDPAddr{IP: net.ParseIP("192.0.2.9"), Port: 4000}
	c := &net.UDPAddr{IP: net.ParseIP("192.0.2.10"), Port: 4000}

	for _, src := range []net.Addr{a1, a2} {
		if ok, _ := q.reserve(src); !ok {
			t.Fatalf("reserve(%v) refused under the cap", src)
		}
	}
	q.created(a1) // a2's allocation failed after the check: its reservation is pending
	if ok, cause := q.reserve(a3); ok || cause != refusedPerIP {
		t.Fatalf("third allocation of one /64: ok %v cause %q, want per_ip", ok, cause)
	}
	if ok, _ := q.reserve(b); !ok {
		t.Fatal("another client refused")
	}
	q.created(b)
	if ok, cause := q.reserve(c); ok || cause != refusedTotal {
		t.Fatalf("fourth allocation in total: ok %v cause %q, want total", ok, cause)
	}
	now = now.Add(pendingTimeout)
	if ok, _ := q.reserve(a3); !ok {
		t.Fatal("the failed reservation did not lapse")
	}
	q.deleted(a1)
	q.deleted(a1) // a second deletion report for the same allocation changes nothing
	if ok, _ := q.reserve(c); !ok {
		t.Fatal("a deleted allocation did not give its slot back")
	}
	if ok, cause := q.reserve(&net.UDPAddr{IP: net.ParseIP("198.51.100.1"), Port: 1}); ok || cause != refusedTotal {
		t.Fatalf("after one deletion and two reservations: ok %v cause %q, want total", ok, cause)
	}
}
