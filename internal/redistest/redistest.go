// Package redistest starts a real redis-server for a test: on a free port of
// 127.0.0.1, with nothing saved to disk, stopped when the test ends. It is
// imported by tests only.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tandemchat/tandem/internal/testlog"
)

// Binary is the server the tests run (Debian's redis-server package).
const Binary = "redis-server"

// Server is a running redis-server.
type Server struct {
	// Addr is its host:port on 127.0.0.1.
	Addr string
	path string
	port int
	cmd  *exec.Cmd
	log  *testlog.Buffer
}

// Start starts a redis-server for t, skipping t when none is installed
// (scripts/install-test-deps.sh installs it), and waits until it answers.
func Start(t testing.TB) *Server {
	t.Helper()
	path, err := exec.LookPath(Binary)
	if err != nil {
		t.Skipf("%s not installed (apt-get install redis-server): %v", Binary, err)
	}
	port := freePort(t)
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), path: path, port: port, log: &testlog.Buffer{}}
	s.run(t)
	t.Cleanup(s.Stop)
	return s
}

// Restart starts the server again on the same port after Stop, empty (as
// a Redis that keeps nothing on disk comes back), and waits until it answers.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.run(t)
}

func (s *Server) run(t testing.TB) {
	t.Helper()
	s.cmd = exec.Command(s.path, "--bind", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--save", "", "--appendonly", "no", "--daemonize", "no")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", Binary, err)
	}
	s.waitReady(t)
}

// Client returns a client of the server, closed when the test ends.
func (s *Server) Client(t testing.TB) redis.UniversalClient {
	t.Helper()
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{s.Addr}})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop ends the server (SIGTERM) and waits for it; it is safe to call twice.
func (s *Server) Stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

func (s *Server) waitReady(t testing.TB) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s on %s did not answer PING: %v\n%s", Binary, s.Addr, err, s.log)
		}
		time.Sleep(20 * time.Millisecond) // polling a process that is starting
	}
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(fmt.Errorf("find a free port: %w", err))
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
