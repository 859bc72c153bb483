package cluster

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tandemchat/tandem/internal/redistest"
	"github.com/tandemchat/tandem/internal/testlog"
)

// cutProxy forwards TCP connections to a Redis until cut: then it closes
// them all and refuses new ones, as a network partition would.
type cutProxy struct {
	ln     net.Listener
	target string
	cut    atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.closeAll() })
	go p.accept()
	return p
}

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.cut.Load() {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { io.Copy(up, c); up.Close() }()
		go func() { io.Copy(c, up); c.Close() }()
	}
}

func (p *cutProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// setCut cuts the proxy (closing what it carries) or heals it.
func (p *cutProxy) setCut(cut bool) {
	p.cut.Store(cut)
	if cut {
		p.closeAll()
	}
}

// TestRegistryBuriesNobodyAfterAnOutageOfRedis cuts every instance off Redis
// until all heartbeats lapsed (Redis keeps its data), then heals: the
// instances beat again, and none is taken for dead.
func TestRegistryBuriesNobodyAfterAnOutageOfRedis(t *testing.T) {
	srv := redistest.Start(t)
	direct := srv.Client(t)
	log, _ := testlog.NewLogger(t, "registry log", 0)
	const ttl = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	var deaths atomic.Int32
	var proxies []*cutProxy
	for _, id := range []string{"x", "y", "z"} {
		p := newCutProxy(t, srv.Addr)
		proxies = append(proxies, p)
		rdb := redis.NewClient(&redis.Options{Addr: p.ln.Addr().String(), MaxRetries: -1,
			DialTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond})
		t.Cleanup(func() { rdb.Close() })
		r := NewRegistry(rdb, Prefix, Instance{ID: id}, ttl, log)
		r.OnDead(func(string) { deaths.Add(1) })
		if err := r.Register(ctx); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); r.Run(ctx) }()
	}

	for _, p := range proxies {
		p.setCut(true)
	}
	waitUntil(t, "every heartbeat lapsed", func() bool {
		n, err := direct.Keys(ctx, Prefix+":alive:*").Result()
		return err == nil && len(n) == 0
	})
	for _, p := range proxies {
		p.setCut(false)
	}
	waitUntil(t, "every instance beats again", func() bool {
		n, err := direct.Keys(ctx, Prefix+":alive:*").Result()
		return err == nil && len(n) == 3
	})
	// Several sweeps' worth after the heal: still nobody buried.
	deadline := time.Now().Add(3 * ttl)
	for time.Now().Before(deadline) {
		if n := deaths.Load(); n != 0 {
			t.Fatalf("%d instances buried after an outage all of them lived through", n)
		}
		time.Sleep(10 * time.Millisecond) // watching for a wrong burial during a fixed window
	}
	if n, err := direct.SCard(ctx, Prefix+":instances").Result(); err != nil || n != 3 {
		t.Fatalf("%d instances registered (%v), want 3", n, err)
	}
}
