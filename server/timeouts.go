package server

import (
	"log/slog"
	"net/http"
	"time"
)

// httpServer is an HTTP server for handler with the configured read-header,
// read, write and idle timeouts; every listener of the server uses them.
func (s *Server) httpServer(handler http.Handler) *http.Server {
	h := s.cfg.HTTP
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: h.ReadHeaderTimeout,
		ReadTimeout:       h.ReadTimeout,
		WriteTimeout:      h.WriteTimeout,
		IdleTimeout:       h.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// withoutDeadlines clears the read and write deadlines the HTTP server set
// on the connection for this request before next (the WebSocket upgrade)
// runs: the WebSocket on /ws lives far longer than http.read_timeout and
// http.write_timeout, and signaling bounds its reads and writes itself
// (signaling.read_timeout, signaling.write_timeout). It runs inside the
// access guard, so refusals are still written under the deadlines.
func withoutDeadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// Errors mean the connection cannot clear them (HTTP/2, where /ws
		// cannot upgrade anyway): leave them.
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
		next.ServeHTTP(w, r)
	})
}
