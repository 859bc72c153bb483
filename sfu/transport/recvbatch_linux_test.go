//go:build linux

package transport

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
)

// takeAll is a packetTaker that takes every datagram and records what it took.
type takeAll struct {
	mu   sync.Mutex
	got  []string
	from []netip.AddrPort
}

func (a *takeAll) takeFrom(b []byte, from netip.AddrPort, _ *scratch) bool {
	a.mu.Lock()
	a.got = append(a.got, string(b))
	a.from = append(a.from, from)
	a.mu.Unlock()
	return true
}

// TestAPollReadsASocketsDatagramsInBatches: one poll hands over every datagram of a socket,
// in order, with its sender, and asks the kernel for them a batch at a time: 3 waiting
// datagrams take one call (recvfrom took four: one each and one to find the socket empty),
// 20 take three (8, 8 and 4).
func TestAPollReadsASocketsDatagramsInBatches(t *testing.T) {
	p := newTestPoller(t)
	p.mu.Lock()
	p.running = true // no run goroutine: this test calls poll itself
	p.mu.Unlock()
	defer func() { p.mu.Lock(); p.running = false; p.mu.Unlock() }()
	var taken takeAll
	c, err := listenPolled(p, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, &taken)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sender, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()

	for _, tc := range []struct{ datagrams, calls int }{{3, 1}, {20, 3}} {
		taken.got, taken.from = nil, nil
		var want []string
		for i := range tc.datagrams {
			msg := fmt.Sprintf("datagram %d of %d", i, tc.datagrams)
			want = append(want, msg)
			if _, err := sender.WriteToUDPAddrPort([]byte(msg), addrPort(c)); err != nil {
				t.Fatal(err)
			}
		}
		before := p.batch.calls
		if read, _ := p.poll(); read != tc.datagrams {
			t.Fatalf("a poll read %d datagrams, want %d", read, tc.datagrams)
		}
		if fmt.Sprint(taken.got) != fmt.Sprint(want) {
			t.Fatalf("handed over %q, want %q", taken.got, want)
		}
		for _, from := range taken.from {
			if from != sender.LocalAddr().(*net.UDPAddr).AddrPort() {
				t.Fatalf("datagram from %v, want %v", from, sender.LocalAddr())
			}
		}
		if calls := p.batch.calls - before; calls != tc.calls {
			t.Fatalf("%d datagrams took %d recvmmsg calls, want %d", tc.datagrams, calls, tc.calls)
		}
	}
}
