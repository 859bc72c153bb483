package access

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// connTable counts the open TCP connections of each client IP (IPv6: each
// /64) across every listener a Guard wraps. Entries exist only while a
// connection is open, so the table is bounded by the open connections.
// Safe for concurrent use.
type connTable struct {
	perIP   int
	proxies proxyList

	mu   sync.Mutex
	open map[string]int

	refused atomic.Uint64
}

func newConnTable(perIP int, proxies proxyList) *connTable {
	return &connTable{perIP: perIP, proxies: proxies, open: make(map[string]int)}
}

// admit counts a new connection from remote and returns the key to release,
// or ok false when the IP already holds perIP connections. Connections from
// trusted proxies are not counted: a proxy carries many clients, and the
// guard limits those by X-Forwarded-For.
func (t *connTable) admit(remote net.Addr) (key string, ok bool) {
	a := remoteIP(remote)
	if !a.IsValid() || t.proxies.trusts(a) {
		return "", true
	}
	key = ipKey(a.String())
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.open[key] >= t.perIP {
		t.refused.Add(1)
		return "", false
	}
	t.open[key]++
	return key, true
}

// release forgets one connection of key ("" for one that was not counted).
func (t *connTable) release(key string) {
	if key == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.open[key]--; t.open[key] <= 0 {
		delete(t.open, key)
	}
}

// remoteIP is the IP of a connection's remote address, unmapped; the zero
// Addr when it has none (not TCP).
func remoteIP(addr net.Addr) netip.Addr {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// LimitListener wraps ln so that no client IP (IPv6: /64 prefix) holds more
// than Config.ConnsPerIP open connections across all the listeners this
// Guard wrapped: a connection over the cap is closed as soon as it is
// accepted, before a byte is read, and counted in Stats.ConnsRefused.
// Connections from trusted proxies are not capped. With ConnsPerIP 0, ln is
// returned as it is.
func (g *Guard) LimitListener(ln net.Listener) net.Listener {
	if g.conns == nil {
		return ln
	}
	return &limitedListener{Listener: ln, table: g.conns}
}

// limitedListener is a net.Listener that refuses connections over the
// per-IP cap.
type limitedListener struct {
	net.Listener
	table *connTable
}

// Accept returns the next connection within the cap, closing the ones over it.
func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, ok := l.table.admit(c.RemoteAddr())
		if !ok {
			c.Close()
			continue
		}
		return &countedConn{Conn: c, table: l.table, key: key}, nil
	}
}

// countedConn frees its slot in the table when closed, once.
type countedConn struct {
	net.Conn
	table *connTable
	key   string
	once  sync.Once
}

// Close closes the connection and frees its slot.
func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.table.release(c.key) })
	return err
}
