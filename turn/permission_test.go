package turn

import (
	"net"
	"testing"
)

func TestPeerFilter(t *testing.T) {
	strict := newPeerFilter(false, []net.IP{net.ParseIP("10.0.0.5"), net.ParseIP("fd00::5")})
	loopbackOK := newPeerFilter(true, nil)

	cases := []struct {
		ip             string
		strict, loopOK bool
	}{
		{"8.8.8.8", true, true},
		{"203.0.113.10", true, true},
		{"2001:db8::1", true, true},
		{"10.0.0.5", true, false}, // tandem's own media address
		{"fd00::5", true, false},  // tandem's own media address (IPv6)
		{"::ffff:10.0.0.5", true, false},
		{"127.0.0.1", false, true},
		{"127.9.9.9", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"10.0.0.6", false, false},
		{"172.16.0.1", false, false},
		{"172.31.255.255", false, false},
		{"192.168.0.1", false, false},
		{"100.64.0.1", false, false},
		{"169.254.169.254", false, false},
		{"0.0.0.0", false, false},
		{"255.255.255.255", false, false},
		{"224.0.0.251", false, false},
		{"::", false, false},
		{"fe80::1", false, false},
		{"fc00::1", false, false},
		{"ff02::1", false, false},
		{"64:ff9b::a00:1", false, false}, // NAT64 of 10.0.0.1
		{"64:ff9b::808:808", true, true}, // NAT64 of 8.8.8.8
		{"::ffff:192.168.1.1", false, false},
	}
	for _, tc := range cases {
		ip := net.ParseIP(tc.ip)
		if got := strict.permit(nil, ip); got != tc.strict {
			t.Errorf("strict filter permit(%s) = %v, want %v", tc.ip, got, tc.strict)
		}
		if got := loopbackOK.permit(nil, ip); got != tc.loopOK {
			t.Errorf("loopback-allowing filter permit(%s) = %v, want %v", tc.ip, got, tc.loopOK)
		}
	}
	if strict.permit(nil, nil) {
		t.Errorf("permit(nil IP) = true")
	}
}
