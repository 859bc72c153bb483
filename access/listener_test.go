package access

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// acceptAll accepts from ln until it closes, sending every connection on.
func acceptAll(ln net.Listener) <-chan net.Conn {
	ch := make(chan net.Conn, 16)
	go func() {
		defer close(ch)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ch <- c
		}
	}()
	return ch
}

func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", local, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// expectClosedByPeer waits until the other end closes c.
func expectClosedByPeer(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("connection over the cap: read %v, want it closed by the listener", err)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// TestLimitListenerCapsOpenConnectionsPerIP checks that the N+1th open
// connection from one IP is closed at accept and counted, that another IP
// still gets in, and that closing a connection frees its slot.
func TestLimitListenerCapsOpenConnectionsPerIP(t *testing.T) {
	g := newGuard(t, Config{SessionsPerIP: 2, ConnsPerIP: 2})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := g.LimitListener(raw)
	defer ln.Close()
	accepted := acceptAll(ln)
	addr := raw.Addr().String()

	var held []net.Conn
	for range 2 {
		dialFrom(t, "127.0.0.1", addr)
		held = append(held, <-accepted)
	}
	over := dialFrom(t, "127.0.0.1", addr)
	expectClosedByPeer(t, over)
	if got := g.Stats().ConnsRefused; got != 1 {
		t.Fatalf("ConnsRefused = %d, want 1", got)
	}

	dialFrom(t, "127.0.0.2", addr)
	select {
	case c := <-accepted:
		if ip := remoteIP(c.RemoteAddr()).String(); ip != "127.0.0.2" {
			t.Fatalf("accepted %s, want the connection from 127.0.0.2", ip)
		}
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("a connection from 127.0.0.2 was not accepted")
	}

	held[0].Close()
	dialFrom(t, "127.0.0.1", addr)
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("after one connection closed, a new one from 127.0.0.1 was not accepted")
	}
	held[1].Close()
}

// TestConnTableCountsIPv6By64AndSkipsTrustedProxies checks the keys: one
// /64 shares one count, and a trusted proxy is never capped.
func TestConnTableCountsIPv6By64AndSkipsTrustedProxies(t *testing.T) {
	proxies, err := parseProxies([]string{"10.0.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	tab := newConnTable(1, proxies)
	a := &net.TCPAddr{IP: net.ParseIP("2001:db8:1:2::1"), Port: 1000}
	b := &net.TCPAddr{IP: net.ParseIP("2001:db8:1:2::ffff"), Port: 1001}
	other := &net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1"), Port: 1002}
	key, ok := tab.admit(a)
	if !ok {
		t.Fatal("first connection of a /64 refused")
	}
	if _, ok := tab.admit(b); ok {
		t.Fatal("second connection from the same /64 admitted with a cap of 1")
	}
	if _, ok := tab.admit(other); !ok {
		t.Fatal("a connection from another /64 was refused")
	}
	tab.release(key)
	if _, ok := tab.admit(b); !ok {
		t.Fatal("after release, the /64 was still full")
	}
	proxy := &net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 2000}
	for i := range 3 {
		if _, ok := tab.admit(proxy); !ok {
			t.Fatalf("trusted proxy connection %d refused", i+1)
		}
	}
}
