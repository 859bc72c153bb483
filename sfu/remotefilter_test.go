package sfu

import (
	"net/netip"
	"strings"
	"testing"
)

func TestRemoteFilterRefusesInternalRangesUnlessTheServerIsInThem(t *testing.T) {
	public := newRemoteFilter([]netip.Addr{netip.MustParseAddr("203.0.113.5")})
	private := newRemoteFilter([]netip.Addr{netip.MustParseAddr("10.0.0.2")})
	loopback := newRemoteFilter([]netip.Addr{netip.MustParseAddr("127.0.0.1")})

	cases := []struct {
		addr                      string
		public, private, loopback bool
	}{
		{"198.51.100.7", true, true, true},
		{"2001:db8::1", true, true, true},
		{"10.9.8.7", false, true, false}, // a server on 10/8 serves 10/8
		{"127.0.0.1", false, false, true},
		{"::ffff:127.0.0.1", false, false, true},
		{"192.168.1.1", false, false, false},
		{"172.16.0.1", false, false, false},
		{"169.254.169.254", false, false, false},
		{"100.64.0.1", false, false, false},
		{"224.0.0.251", false, false, false},
		{"0.0.0.0", false, false, false},
		{"::1", false, false, false},
		{"fe80::1", false, false, false},
		{"fd00::1", false, false, false},
	}
	for _, tc := range cases {
		a := netip.MustParseAddr(tc.addr)
		for _, f := range []struct {
			name string
			f    *remoteFilter
			want bool
		}{{"public", public, tc.public}, {"private", private, tc.private}, {"loopback", loopback, tc.loopback}} {
			if got := f.f.allowsAddr(a); got != f.want {
				t.Errorf("%s server: allowsAddr(%s) = %v, want %v", f.name, tc.addr, got, f.want)
			}
		}
	}
}

func TestRemoteFilterReadsCandidateLines(t *testing.T) {
	f := newRemoteFilter([]netip.Addr{netip.MustParseAddr("203.0.113.5")})
	for line, want := range map[string]bool{
		"candidate:1 1 udp 2122260223 10.1.2.3 50000 typ host":                                 false,
		"a=candidate:1 1 udp 2122260223 127.0.0.1 9 typ host\r\n":                              false,
		"candidate:2 1 udp 1686052607 198.51.100.7 61000 typ srflx raddr 10.0.0.9 rport 50000": true,
		"candidate:3 1 udp 2122260223 4f2b1c3e-aaaa.local 50000 typ host":                      true, // not resolved by the server
		"":           true, // end of candidates
		"garbage":    true, // Pion refuses it
		"candidate:": true,
	} {
		if got := f.allowsCandidate(line); got != want {
			t.Errorf("allowsCandidate(%q) = %v, want %v", line, got, want)
		}
	}
	sdp := "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" +
		"a=candidate:1 1 udp 2122260223 10.1.2.3 50000 typ host\r\n" +
		"a=candidate:2 1 udp 2122260223 198.51.100.7 50000 typ host\r\n" +
		"a=candidate:3 1 udp 2122260223 192.168.0.4 50000 typ host\r\n" +
		"a=end-of-candidates\r\n"
	out, removed := f.stripCandidates(sdp)
	if removed != 2 || strings.Contains(out, "10.1.2.3") || strings.Contains(out, "192.168.0.4") ||
		!strings.Contains(out, "198.51.100.7 50000 typ host\r\n") || !strings.HasSuffix(out, "a=end-of-candidates\r\n") {
		t.Fatalf("stripCandidates removed %d:\n%s", removed, out)
	}
}
