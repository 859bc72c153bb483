package turn

import (
	"net"
	"testing"
)

func TestRelayPolicyAllowsOnlyMediaPortsOnMediaAddresses(t *testing.T) {
	media := []net.IP{net.ParseIP("10.0.0.5"), net.ParseIP("fd00::5"), net.ParseIP("127.0.0.1")}
	ports := []PortRange{{Min: 50000, Max: 50100}, {Min: 3479, Max: 3479}}
	strict := newRelayPolicy(Config{AllowedPeers: media, MediaPorts: ports}, &meters{})
	loopbackOK := newRelayPolicy(Config{AllowLoopback: true, MediaPorts: ports}, &meters{})

	cases := []struct {
		ip             string
		port           int
		strict, loopOK bool
	}{
		{"10.0.0.5", 50000, true, false}, // tandem's own media socket
		{"10.0.0.5", 50100, true, false},
		{"10.0.0.5", 3479, true, false}, // the muxed port
		{"::ffff:10.0.0.5", 50050, true, false},
		{"fd00::5", 50001, true, false},
		{"127.0.0.1", 50001, true, true},  // a media address on loopback (TANDEM_ICE_IPS=127.0.0.1)
		{"127.0.0.1", 3000, false, false}, // the HTTP API on a media address
		{"127.0.0.1", 9999, false, false},
		{"10.0.0.5", 3478, false, false}, // the TURN server itself
		{"10.0.0.5", 49999, false, false},
		{"10.0.0.5", 50101, false, false},
		{"127.9.9.9", 50001, false, true},
		{"::1", 50001, false, true},
		{"10.0.0.6", 50001, false, false},
		{"192.0.2.1", 50001, false, false}, // a public test-net address: anyone else
		{"8.8.8.8", 50001, false, false},
		{"169.254.169.254", 80, false, false},
		{"64:ff9b::a00:5", 50001, false, false},
	}
	for _, tc := range cases {
		addr := &net.UDPAddr{IP: net.ParseIP(tc.ip), Port: tc.port}
		if got := strict.permitPeer(addr); got != tc.strict {
			t.Errorf("strict policy permitPeer(%v) = %v, want %v", addr, got, tc.strict)
		}
		if got := loopbackOK.permitPeer(addr); got != tc.loopOK {
			t.Errorf("loopback-allowing policy permitPeer(%v) = %v, want %v", addr, got, tc.loopOK)
		}
	}
	if strict.permit(nil, net.ParseIP("192.0.2.1")) || !strict.permit(nil, net.ParseIP("10.0.0.5")) {
		t.Error("permit: want only media addresses")
	}
	if got := strict.meters.permissionsRefused.Load(); got != 1 {
		t.Errorf("refused permissions counted %d, want 1", got)
	}
	if strict.permit(nil, nil) || strict.permitPeer(&net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 50000}) {
		t.Error("a nil IP or a TCP peer was permitted")
	}
}
