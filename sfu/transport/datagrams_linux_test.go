//go:build linux

package transport

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// pollerSocketsOf counts the sockets t's pollers read.
func pollerSocketsOf(t *Transport) int {
	n := 0
	for _, p := range t.pollers {
		n += p.sockets()
	}
	return n
}

func TestListenDatagramsReadsOnThePollers(t *testing.T) {
	tr := newTestTransport(t, Config{})
	got := make(chan string, 8)
	c, err := tr.ListenDatagrams(netip.MustParseAddrPort("127.0.0.1:0"), func(b []byte, from netip.AddrPort) {
		got <- string(b) + " from " + from.Addr().String()
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := pollerSocketsOf(tr); n != 1 {
		t.Fatalf("the pollers read %d sockets, want the datagram socket", n)
	}
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	local := c.LocalAddr().(*net.UDPAddr).AddrPort()
	// Anything is handed over, also what a peer's socket would queue for Pion (a STUN-like
	// first byte) or drop as junk.
	for _, msg := range []string{"\x00stun-like", "junk"} {
		if _, err := peer.WriteToUDPAddrPort([]byte(msg), local); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-got:
			if s != msg+" from 127.0.0.1" {
				t.Fatalf("handled %q, want %q", s, msg)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q not handed over", msg)
		}
	}
	if _, err := c.WriteToAddrPort([]byte("back"), peer.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 100)
	if n, from, err := peer.ReadFromUDPAddrPort(buf); err != nil || string(buf[:n]) != "back" || from.Port() != local.Port() {
		t.Fatalf("peer read %q from %s, %v", buf[:n], from, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := pollerSocketsOf(tr); n != 0 {
		t.Fatalf("the pollers still read %d sockets after Close", n)
	}
	if _, err := tr.ListenDatagrams(netip.MustParseAddrPort("[::1]:0"), func([]byte, netip.AddrPort) {}); err == nil {
		t.Fatal("an IPv6 address was accepted")
	}
}
