// Package livetest runs a real tandem server (server.Start) on loopback and
// real WebSocket clients against it, for the tests of the operator features
// (admin API, metrics, access tokens, per-IP limits). It is imported by tests
// only.
package livetest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/server"
)

// WaitFor is how long a test waits for one expected event: generous, since
// CI runs every package at once on two cores.
const WaitFor = 15 * time.Second

// Server is a tandem server started for one test; it is closed by the
// test's cleanup.
type Server struct {
	*server.Server
	Logs *Logs
	// WSURL is ws://127.0.0.1:port/ws.
	WSURL string
}

// Start runs server.Start with a loopback configuration (HTTP on an
// ephemeral port of 127.0.0.1, media on 127.0.0.1, TURN off), changed by edit.
func Start(t testing.TB, edit func(*config.Config)) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Media.ICEIPs = []string{"127.0.0.1"}
	cfg.TURN.Addr = ""
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	logs := &Logs{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return &Server{Server: srv, Logs: logs, WSURL: "ws" + strings.TrimPrefix(srv.URL(), "http") + "/ws"}
}

// Do sends an HTTP request to the server with an optional bearer token and
// returns the status and body.
func (s *Server) Do(t testing.TB, method, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, string(body)
}

// Logs collects the server's log output. Safe for concurrent use.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// WaitForLine waits until one log line contains every one of parts, and
// returns it; it fails the test after WaitFor.
func (l *Logs) WaitForLine(t testing.TB, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(WaitFor)
	for {
		if line, ok := l.find(parts); ok {
			return line
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q", parts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (l *Logs) find(parts []string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
lines:
	for _, line := range strings.Split(l.buf.String(), "\n") {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue lines
			}
		}
		return line, true
	}
	return "", false
}
