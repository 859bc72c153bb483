package server_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/livetest"
)

// rawConn opens a TCP connection to srv from the local IP from.
func rawConn(t *testing.T, srv *livetest.Server, from string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: livetest.WaitFor}
	c, err := d.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// getOn sends one keep-alive GET /healthz on c and reads the answer.
func getOn(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	c.SetDeadline(time.Now().Add(livetest.WaitFor))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: tandem\r\n\r\n"); err != nil {
		t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %d", resp.StatusCode)
	}
}

// waitClosedByServer reads from c until the server closes it, failing the
// test if that takes longer than livetest.WaitFor; it returns how long it took.
func waitClosedByServer(t *testing.T, c net.Conn, r io.Reader) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(livetest.WaitFor))
	_, err := io.Copy(io.Discard, r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", livetest.WaitFor)
	}
	return time.Since(start)
}

// TestIdleKeepAliveConnectionIsClosed checks http.idle_timeout: a
// keep-alive connection that sends no further request is closed by the
// server, not held for as long as the client likes.
func TestIdleKeepAliveConnectionIsClosed(t *testing.T) {
	const idle = 300 * time.Millisecond
	srv := livetest.Start(t, func(c *config.Config) { c.HTTP.IdleTimeout = idle })
	c := rawConn(t, srv, "127.0.0.1")
	br := bufio.NewReader(c)
	getOn(t, c, br)
	getOn(t, c, br) // still open for a prompt second request
	if took := waitClosedByServer(t, c, br); took < idle/2 {
		t.Fatalf("closed after %v, before the idle timeout %v", took, idle)
	}
}

// TestSlowHeadersAreCutOff checks http.read_header_timeout against a
// slowloris client that sends one header line every 50 ms, forever.
func TestSlowHeadersAreCutOff(t *testing.T) {
	const headerTimeout = 300 * time.Millisecond
	srv := livetest.Start(t, func(c *config.Config) { c.HTTP.ReadHeaderTimeout = headerTimeout })
	c := rawConn(t, srv, "127.0.0.1")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: tandem\r\n"); err != nil {
			return
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := io.WriteString(c, "X-Slow-"+strings.Repeat("a", i%10+1)+": 1\r\n"); err != nil {
				return // closed by the server
			}
		}
	}()
	if took := waitClosedByServer(t, c, c); took < headerTimeout/2 {
		t.Fatalf("closed after %v, before the header timeout %v", took, headerTimeout)
	}
}

// TestWebSocketOutlivesHTTPReadAndWriteTimeouts checks that the WebSocket on
// /ws is not cut by http.read_timeout or http.write_timeout: a pair keeps
// chatting both ways for three times those timeouts.
func TestWebSocketOutlivesHTTPReadAndWriteTimeouts(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := livetest.Start(t, func(c *config.Config) {
		c.HTTP.ReadHeaderTimeout, c.HTTP.ReadTimeout, c.HTTP.WriteTimeout = timeout, timeout, timeout
	})
	a, b := livetest.MustDial(t, srv.WSURL), livetest.MustDial(t, srv.WSURL)
	a.Send("find_partner", nil)
	a.Expect("waiting_for_partner")
	b.Send("find_partner", nil)
	a.Expect("partner_found")
	b.Expect("partner_found")
	tick := time.NewTicker(timeout / 3) // paced under the chat limit
	defer tick.Stop()
	for start, i := time.Now(), 0; time.Since(start) < 3*timeout; i++ {
		<-tick.C
		from, to := a, b
		if i%2 == 1 {
			from, to = b, a
		}
		from.Send("chat_message", map[string]string{"text": "still here"})
		to.Expect("chat_message")
	}
}

// TestConnectionsPerIPAreCappedAtTheListener checks http.conns_per_ip: the
// N+1th open connection from one IP is closed at once and counted in
// /metrics, while another loopback IP still connects.
func TestConnectionsPerIPAreCappedAtTheListener(t *testing.T) {
	srv := livetest.Start(t, func(c *config.Config) {
		c.Limits.SessionsPerIP, c.HTTP.ConnsPerIP = 2, 2
	})
	var held []net.Conn
	for range 2 {
		c := rawConn(t, srv, "127.0.0.1")
		getOn(t, c, bufio.NewReader(c)) // accepted and kept alive
		held = append(held, c)
	}
	over := rawConn(t, srv, "127.0.0.1")
	io.WriteString(over, "GET /healthz HTTP/1.1\r\nHost: tandem\r\n\r\n")
	if n, _ := over.Read(make([]byte, 1)); n != 0 {
		t.Fatal("the connection over the cap was answered")
	}
	waitClosedByServer(t, over, over)

	other := rawConn(t, srv, "127.0.0.2")
	br := bufio.NewReader(other)
	getOn(t, other, br)
	if got := scrape(t, other, br, "tandem_http_conns_refused_total"); got != "1" {
		t.Fatalf("tandem_http_conns_refused_total = %q, want 1", got)
	}

	held[0].Close() // frees a slot: 127.0.0.1 gets in again
	deadline := time.Now().Add(livetest.WaitFor)
	for {
		c := rawConn(t, srv, "127.0.0.1")
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: tandem\r\nConnection: close\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(livetest.WaitFor))
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("after one connection closed, 127.0.0.1 still cannot connect")
		}
	}
}

// scrape reads one unlabelled metric's value from /metrics over c.
func scrape(t *testing.T, c net.Conn, br *bufio.Reader, name string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(livetest.WaitFor))
	io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: tandem\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("/metrics has no %s:\n%s", name, body)
	return ""
}
