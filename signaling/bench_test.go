package signaling

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sort"
	"testing"
	"time"
)

// BenchmarkFindToPartnerFound measures, over real WebSockets on loopback,
// the time from a client sending find_partner (with one user waiting) to
// that client receiving partner_found. It reports the median and p95.
func BenchmarkFindToPartnerFound(b *testing.B) {
	h := newTestHub(b, func(o *Options) { o.MessagesPerSecond = 1_000_000 })
	a, c := h.dial(b), h.dial(b)
	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.send("find_partner", nil)
		a.expect("waiting_for_partner")
		start := time.Now()
		c.send("find_partner", nil)
		c.expect("partner_found")
		latencies = append(latencies, time.Since(start))
		a.expect("partner_found")
		c.send("leave", nil)
		a.expectPartnerLeft(ReasonLeave)
	}
	b.StopTimer()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(latencies[len(latencies)*95/100].Microseconds()), "p95-µs")
}

// BenchmarkIdleSession opens b.N idle WebSocket sessions and reports the
// server's memory (heap and stacks) and goroutines per session. The clients
// are bare TCP connections that did the handshake by hand, so their own
// cost is a socket. Run with -benchtime=3000x (b.N is the session count).
func BenchmarkIdleSession(b *testing.B) {
	if b.N > 20000 {
		b.Skip("run with -benchtime=NNNNx, NNNN at most 20000 sessions")
	}
	h := newTestHub(b, nil)
	u, _ := url.Parse(h.url)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	conns := make([]net.Conn, 0, b.N)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := rawHandshake(u.Host)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	eventually(b, "all sessions registered", func() bool { return h.Stats().ConnectedUsers == b.N })
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(after.HeapInuse-before.HeapInuse) / float64(b.N)
	stack := float64(after.StackInuse-before.StackInuse) / float64(b.N)
	b.ReportMetric(heap+stack, "bytes/session")
	b.ReportMetric(heap, "heap-bytes/session")
	b.ReportMetric(stack, "stack-bytes/session")
	b.ReportMetric(float64(runtime.NumGoroutine()-goroutines)/float64(b.N), "goroutines/session")
}

// rawHandshake opens a WebSocket to host's /ws with nothing but a socket.
func rawHandshake(host string) (net.Conn, error) {
	c, err := net.Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", host)
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 512), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	return c, nil
}
