// Package livetest runs a real tandem server (server.Start) on loopback and
// real WebSocket clients against it, for the tests of the operator features
// (admin API, metrics, access tokens, per-IP limits). It is imported by tests
// only.
package livetest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/testlog"
	"github.com/tandemchat/tandem/server"
)

// WaitFor is how long a test waits for one expected event: generous, since
// CI runs every package at once on two cores.
const WaitFor = 15 * time.Second

// Server is a tandem server started for one test; it is closed by the
// test's cleanup.
type Server struct {
	*server.Server
	// Logs holds the server's log output (debug level); it is printed if
	// the test fails.
	Logs *testlog.Buffer
	// WSURL is ws://127.0.0.1:port/ws.
	WSURL string
}

// Start runs server.Start with a loopback configuration (HTTP on an
// ephemeral port of 127.0.0.1, media on 127.0.0.1, TURN off), changed by edit.
func Start(t testing.TB, edit func(*config.Config)) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Moderation.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Media.ICEIPs = []string{"127.0.0.1"}
	cfg.TURN.Addr = ""
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	log, logs := testlog.NewLogger(t, "server log", slog.LevelDebug)
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
