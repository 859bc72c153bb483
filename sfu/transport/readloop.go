package transport

import (
	"net/netip"
	"sync"
)

// packetTaker takes the media among the datagrams read from a socket (inbound, or muxRoutes
// for the muxed port's sockets); what it does not take goes on to Pion.
type packetTaker interface {
	// takeFrom reports whether it took b, which came from from: handled on the fast path, or
	// dropped (forged media, or a source Pion must not hear from).
	takeFrom(b []byte, from netip.AddrPort, s *scratch) bool
}

// readForPion is the transport's one read loop, "take it or hand it to Pion": it reads
// datagrams with read into b and hands each to t until one is not taken, which it returns:
// that one is Pion's. Each socket wrapper reads through it: mediaConn and muxConn return the
// datagram to ICE's read goroutine, the poller queues it for ICE's reader of the socket.
// seen, if not nil, records where Pion's datagrams came from. An error of read ends the loop
// and is returned.
func readForPion(read func(b []byte) (int, netip.AddrPort, error), b []byte, t packetTaker, s *scratch,
	seen *seenAddrs,
) (int, netip.AddrPort, error) {
	for {
		n, from, err := read(b)
		if err != nil {
			return n, from, err
		}
		if t.takeFrom(b[:n], from, s) {
			continue
		}
		if seen != nil {
			seen.add(from)
		}
		return n, from, nil
	}
}

// seenAddrs remembers the last few client addresses ICE read packets (STUN, DTLS) from on a
// socket. Sockets on the same port, the muxed port's on several local IPs, are told apart by
// it: the selected pair's client address reached the right one. Safe for concurrent use;
// recorded only for packets handed to Pion, never on the media path.
type seenAddrs struct {
	mu    sync.Mutex
	addrs [4]netip.AddrPort
	next  int
}

func (s *seenAddrs) add(addr netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.addrs {
		if a == addr {
			return
		}
	}
	s.addrs[s.next] = addr
	s.next = (s.next + 1) % len(s.addrs)
}

func (s *seenAddrs) has(addr netip.AddrPort) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.addrs {
		if a == addr {
			return true
		}
	}
	return false
}
