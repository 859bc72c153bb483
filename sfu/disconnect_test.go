package sfu_test

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/sfu/synth"
)

// udpProxy relays datagrams between one client and one server address on loopback until cut.
type udpProxy struct {
	conn   net.PacketConn
	server *net.UDPAddr
	cut    atomic.Bool
	mu     sync.Mutex
	client net.Addr
	done   chan struct{}
}

func newUDPProxy(t *testing.T, server *net.UDPAddr) *udpProxy {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &udpProxy{conn: conn, server: server, done: make(chan struct{})}
	go p.run()
	t.Cleanup(func() {
		conn.Close()
		<-p.done
	})
	return p
}

func (p *udpProxy) run() {
	defer close(p.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := p.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if p.cut.Load() {
			continue
		}
		to := net.Addr(p.server)
		if u, ok := from.(*net.UDPAddr); ok && u.Port == p.server.Port && u.IP.Equal(p.server.IP) {
			p.mu.Lock()
			to = p.client
			p.mu.Unlock()
		} else {
			p.mu.Lock()
			p.client = from
			p.mu.Unlock()
		}
		if to != nil {
			_, _ = p.conn.WriteTo(buf[:n], to)
		}
	}
}

func (p *udpProxy) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

func TestSilentClientFailsAfterDisconnectTimeout(t *testing.T) {
	s := newSFU(t, sfu.Config{DisconnectTimeout: time.Second})
	var (
		mu      sync.Mutex
		proxies []*udpProxy
	)
	// Every server candidate is replaced by a proxy in front of it.
	route := func(c webrtc.ICECandidateInit) webrtc.ICECandidateInit {
		f := strings.Fields(c.Candidate)
		if len(f) < 8 || f[2] != "udp" {
			return c
		}
		port, err := strconv.Atoi(f[5])
		if err != nil {
			return c
		}
		p := newUDPProxy(t, &net.UDPAddr{IP: net.ParseIP(f[4]), Port: port})
		mu.Lock()
		proxies = append(proxies, p)
		mu.Unlock()
		f[5] = strconv.Itoa(p.port())
		c.Candidate = strings.Join(f, " ")
		return c
	}
	a := connectVia(t, s, synth.Options{Send: true}, nil, route)
	b := connect(t, s, true)
	sfu.Pair(a.peer, b.peer)
	a.waitPackets(t, video, b, 10)

	// The client's network goes silent: no close_notify, no ICE, nothing.
	mu.Lock()
	for _, p := range proxies {
		p.cut.Store(true)
	}
	mu.Unlock()
	select {
	case err := <-a.failed:
		if err == nil || errors.Is(err, sfu.ErrClosed) {
			t.Fatalf("OnFailed(%v)", err)
		}
		t.Logf("failed as expected: %v", err)
	case <-time.After(40 * time.Second):
		t.Fatal("no OnFailed after the client's network went silent")
	}
	if b.fails.Load() != 0 {
		t.Fatal("the partner of a failed peer was reported failed too")
	}
}
