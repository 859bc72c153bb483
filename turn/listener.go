package turn

import (
	"errors"
	"log/slog"
	"net"
	"sync"
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
	log  *slog.Logger
	done chan struct{} // closed by Close

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

func newTrackingListener(ln net.Listener, log *slog.Logger) *trackingListener {
	return &trackingListener{Listener: ln, log: log, done: make(chan struct{}),
		conns: make(map[*trackedConn]struct{})}
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

// trackedConn removes itself from its listener when closed.
type trackedConn struct {
	net.Conn
	owner *trackingListener
}

func (c *trackedConn) Close() error {
	c.owner.forget(c)
	return c.Conn.Close()
}
