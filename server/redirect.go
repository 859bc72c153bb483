package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// redirectServer is the plain HTTP listener that runs beside an HTTPS server
// with automatic certificates: it answers ACME HTTP-01 challenges and
// redirects browsers to HTTPS. It owns its listener and its serving
// goroutine; Close ends both.
type redirectServer struct {
	http   *http.Server
	ln     net.Listener
	served chan error // the serving goroutine's result
}

// startRedirect starts the redirect listener when the server uses automatic
// certificates and cfg.HTTP.RedirectAddr is set; otherwise it does nothing.
// It runs after the HTTPS listener is open, whose port the redirects name.
func (s *Server) startRedirect(ctx context.Context) error {
	if s.https.acme == nil || s.cfg.HTTP.RedirectAddr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(s.ln.Addr().String())
	if err != nil {
		return fmt.Errorf("redirect: HTTPS port: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.HTTP.RedirectAddr)
	if err != nil {
		return fmt.Errorf("listen http redirect: %w", err)
	}
	r := &redirectServer{
		ln:     s.guard.LimitListener(ln),
		served: make(chan error, 1),
		http:   s.httpServer(securityHeaders(s.https.acme.redirectHandler(port), false)),
	}
	go func() { r.served <- r.http.Serve(r.ln) }()
	s.redirect = r
	s.log.Info("redirecting plain HTTP to HTTPS and answering ACME HTTP challenges", "addr", ln.Addr().String())
	return nil
}

// RedirectAddr is the address of the plain HTTP redirect listener, nil when
// there is none (it runs only with automatic certificates).
func (s *Server) RedirectAddr() net.Addr {
	if s.redirect == nil {
		return nil
	}
	return s.redirect.ln.Addr()
}

// Close stops the listener, waits up to 5 s for requests in flight, and
// waits for the serving goroutine. Call it once.
func (r *redirectServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.http.Shutdown(ctx)
	if err != nil {
		r.http.Close() // requests still running after the wait: cut them off
	}
	if serveErr := <-r.served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		return fmt.Errorf("close http redirect: %w", err)
	}
	return nil
}
