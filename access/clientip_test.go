package access

import (
	"net/http"
	"testing"
	"time"
)

func TestClientIPTrustsForwardedForOnlyFromTrustedProxies(t *testing.T) {
	proxies, err := parseProxies([]string{"10.0.0.0/8", "192.0.2.1", "::ffff:192.0.2.2"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		remote, xff, want string
		fromProxy         bool
	}{
		{"198.51.100.4:5555", "203.0.113.1", "198.51.100.4", false},               // not a proxy: header ignored
		{"10.1.2.3:5555", "203.0.113.1", "203.0.113.1", true},                     // trusted by prefix
		{"192.0.2.1:5555", "6.6.6.6, 203.0.113.1, 10.9.9.9", "203.0.113.1", true}, // right-most untrusted; forged left ignored
		{"192.0.2.2:5555", "203.0.113.1", "203.0.113.1", true},                    // mapped IPv4 proxy entry
		{"10.1.2.3:5555", "", "10.1.2.3", false},                                  // proxy without header
		{"10.1.2.3:5555", "garbage", "10.1.2.3", false},
		{"[2001:db8::1]:5555", "203.0.113.1", "2001:db8::1", false},
	}
	for _, c := range cases {
		r, _ := http.NewRequest("GET", "/ws", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		got, from := proxies.clientIP(r)
		if got != c.want || from != c.fromProxy {
			t.Errorf("remote %s xff %q: got %s %v, want %s %v", c.remote, c.xff, got, from, c.want, c.fromProxy)
		}
	}
	if _, err := parseProxies([]string{"not-an-ip"}); err == nil {
		t.Fatal("a bad trusted proxy must be refused")
	}
}

func TestIPv6ClientsShareALimitPerSlash64(t *testing.T) {
	if a, b := ipKey("2001:db8:1:2:aaaa::1"), ipKey("2001:db8:1:2:bbbb::2"); a != b || a != "2001:db8:1:2::/64" {
		t.Fatalf("keys %s and %s, want both 2001:db8:1:2::/64", a, b)
	}
	if k := ipKey("203.0.113.5"); k != "203.0.113.5" {
		t.Fatalf("IPv4 key %s", k)
	}
}

func TestTableForgetsIdleIPsAndStaysBounded(t *testing.T) {
	clock := newFakeClock()
	l := newLimiter(10, 1, 100, clock.Now)
	busy, ref := l.acquire("busy")
	if ref != nil {
		t.Fatal(ref.reason)
	}
	for i := range 1000 {
		release, ref := l.acquire("10.0." + string(rune('a'+i%26)) + "." + time.Duration(i).String())
		if ref != nil {
			t.Fatalf("ip %d refused: %s", i, ref.reason)
		}
		release()
		if n := l.size(); n > 100+1 {
			t.Fatalf("table grew to %d entries, bound is 100", n)
		}
	}
	if _, ref := l.acquire("busy"); ref == nil || ref.code != codeTooManySessions {
		t.Fatal("an IP with an open session must be kept, and its limit enforced, however many IPs came after it")
	}
	clock.Advance(idleAfter)
	release, _ := l.acquire("newcomer")
	if n := l.size(); n != 2 {
		t.Fatalf("after a minute of idleness %d entries remain, want 2 (busy and newcomer)", n)
	}
	release()
	busy()
	clock.Advance(idleAfter)
	l.acquire("last")
	if n := l.size(); n != 1 {
		t.Fatalf("idle IPs not forgotten: %d entries, want 1", n)
	}
}
