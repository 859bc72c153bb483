package main

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// relayTestSocket opens a client socket on loopback that gives up reading after the deadline.
func relayTestSocket(t *testing.T) *net.UDPConn {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// sendUntilReceived sends a packet for pair from `from` every 20 ms until `to` receives a
// packet (the relay drops the first packets of a source until its partner has spoken), and
// returns what `to` received.
func sendUntilReceived(t *testing.T, relay netip.AddrPort, from, to *net.UDPConn, pair uint32, body string) string {
	t.Helper()
	msg := binary.BigEndian.AppendUint32(nil, pair)
	msg = append(msg, body...)
	buf := make([]byte, 1500)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := from.WriteToUDPAddrPort(msg, relay); err != nil {
			t.Fatal(err)
		}
		to.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if n, _, err := to.ReadFromUDPAddrPort(buf); err == nil {
			return string(buf[relayPairIDLen:n])
		}
	}
	t.Fatalf("nothing arrived through the relay for pair %d", pair)
	return ""
}

func TestRelayForwardsOnlyBetweenPartners(t *testing.T) {
	defer goleak.VerifyNone(t)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serveRelay(ctx, conn) }()
	relay := conn.LocalAddr().(*net.UDPAddr).AddrPort()

	a, b, lonely := relayTestSocket(t), relayTestSocket(t), relayTestSocket(t)
	// a speaks first and waits; lonely uses another pair number and must never be paired.
	for _, c := range []*net.UDPConn{a, lonely} {
		pair := uint32(7)
		if c == lonely {
			pair = 8
		}
		if _, err := c.WriteToUDPAddrPort(binary.BigEndian.AppendUint32(nil, pair), relay); err != nil {
			t.Fatal(err)
		}
	}
	if got := sendUntilReceived(t, relay, b, a, 7, "from b"); got != "from b" {
		t.Fatalf("a received %q, want b's packet", got)
	}
	if got := sendUntilReceived(t, relay, a, b, 7, "from a"); got != "from a" {
		t.Fatalf("b received %q, want a's packet", got)
	}
	lonely.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _, err := lonely.ReadFromUDPAddrPort(make([]byte, 1500)); err == nil {
		t.Fatalf("a source without a partner received %d bytes", n)
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serveRelay after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serveRelay did not return after cancel")
	}
}
