package turn

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// trackingListener remembers the client connections it accepted so Close
// can end them: pion's server closes only its listeners, which would leave
// established TURN/TCP sessions (and their allocations) running after
// shutdown. It also rides out failing Accepts (say, out of file
// descriptors during a connection flood): pion stops serving a listener for
// good on the first Accept error. Safe for concurrent use.
type trackingListener struct {
	net.Listener
	log   *slog.Logger
	greet atomic.Int64  // nanoseconds a new client may stay silent (a test may shorten it)
	done  chan struct{} // closed by Close

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

func newTrackingListener(ln net.Listener, log *slog.Logger) *trackingListener {
	l := &trackingListener{Listener: ln, log: log, done: make(chan struct{}),
		conns: make(map[*trackedConn]struct{})}
	l.greet.Store(int64(greetTimeout))
	return l
}

// Accept returns the next client connection, tracked until it closes. It
// returns an error only once the listener is closed; other errors are
// retried with a backoff of 5 ms doubling up to 1 s.
func (l *trackingListener) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.log.Warn("TURN accept failed; retrying", "addr", l.Addr(), "in", backoff, "err", err)
			select {
			case <-l.done:
				return nil, net.ErrClosed
			case <-time.After(backoff):
			}
			continue
		}
		// A client that connects must speak soon; one that never does
		// only holds a goroutine and a descriptor.
		_ = conn.SetReadDeadline(time.Now().Add(time.Duration(l.greet.Load())))
		tc := &trackedConn{Conn: conn, owner: l}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			_ = conn.Close()
			return nil, net.ErrClosed
		}
		l.conns[tc] = struct{}{}
		l.mu.Unlock()
		return tc, nil
	}
}

// Close stops accepting and closes every open client connection.
func (l *trackingListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()

	err := l.Listener.Close()
	for _, c := range conns {
		if cerr := c.Conn.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = errors.Join(err, cerr)
		}
	}
	return err
}

func (l *trackingListener) forget(c *trackedConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// greetTimeout is how long a new TCP/TLS client may stay silent.
const greetTimeout = 30 * time.Second

// trackedConn removes itself from its listener when closed, and lifts the
// greeting deadline once the client has sent something. Read is called by
// one goroutine only (pion's read loop, or the TLS layer under it).
type trackedConn struct {
	net.Conn
	owner   *trackingListener
	greeted bool
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.greeted {
		c.greeted = true
		_ = c.Conn.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.owner.forget(c)
	return c.Conn.Close()
}
