//go:build linux

package transport

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// TestWriteBatchSendsEveryDatagramInOrder writes 20 datagrams of different sizes (more than
// one sendmmsg call carries) and reads them all, in order and whole; once warm, a batch
// allocates nothing.
func TestWriteBatchSendsEveryDatagramInOrder(t *testing.T) {
	p := newTestPoller(t)
	c, err := listenPolled(p, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, &takeAll{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()

	var bufs [][]byte
	for i := range 20 {
		bufs = append(bufs, []byte(fmt.Sprintf("%0*d", 10+i*50, i)))
	}
	if n, err := c.WriteBatch(bufs, to); n != len(bufs) || err != nil {
		t.Fatalf("WriteBatch: %d, %v; want %d sent", n, err, len(bufs))
	}
	if err := rx.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 2048)
	for i, want := range bufs {
		n, from, err := rx.ReadFromUDPAddrPort(got)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if string(got[:n]) != string(want) || from != addrPort(c) {
			t.Fatalf("datagram %d: %d bytes from %v, want %d from %v", i, n, from, len(want), addrPort(c))
		}
	}

	small := bufs[:3]
	if allocs := testing.AllocsPerRun(50, func() { _, _ = c.WriteBatch(small, to) }); allocs != 0 {
		t.Fatalf("WriteBatch allocates %.1f times a call", allocs)
	}
}
