package server

import (
	"crypto/tls"
	"log/slog"
	"net"

	"github.com/tandemchat/tandem/config"
)

// httpsSetup says whether and how the HTTP listener serves HTTPS, and gives
// TURN over TLS the same certificate. There are three modes: plain HTTP
// (both pointers nil), certificate files (files set) and automatic
// certificates over ACME (acme set). It is built once by newHTTPS and not
// changed afterwards, so it may be read from any goroutine.
type httpsSetup struct {
	files *certFile  // certificate files, reloaded when they change
	acme  *acmeCerts // automatic certificates
}

// newHTTPS reads the certificate files or prepares the ACME manager, as cfg
// says. An unreadable certificate is an error here rather than at the first
// visitor's handshake.
func newHTTPS(cfg config.HTTP, log *slog.Logger) (*httpsSetup, error) {
	var (
		h   httpsSetup
		err error
	)
	switch {
	case cfg.TLSCert != "":
		h.files, err = loadCertFile(cfg.TLSCert, cfg.TLSKey, log)
	case len(cfg.ACMEDomains) > 0:
		h.acme, err = newACMECerts(cfg, log)
	}
	if err != nil {
		return nil, err
	}
	return &h, nil
}

// enabled reports whether the HTTP listener serves HTTPS.
func (h *httpsSetup) enabled() bool { return h.files != nil || h.acme != nil }

// serverConfig is the TLS configuration of the HTTP listener, nil for plain HTTP.
func (h *httpsSetup) serverConfig() *tls.Config {
	switch {
	case h.acme != nil:
		return h.acme.serverConfig()
	case h.files != nil:
		return &tls.Config{
			GetCertificate: h.files.GetCertificate,
			NextProtos:     []string{"h2", "http/1.1"},
			MinVersion:     tls.VersionTLS12,
		}
	}
	return nil
}

// turnConfig is the TLS configuration of TURN over TLS: the HTTP listener's
// certificate, nil for plain HTTP.
func (h *httpsSetup) turnConfig() *tls.Config {
	switch {
	case h.acme != nil:
		return &tls.Config{GetCertificate: h.acme.getCertificate, MinVersion: tls.VersionTLS12}
	case h.files != nil:
		return &tls.Config{GetCertificate: h.files.GetCertificate, MinVersion: tls.VersionTLS12}
	}
	return nil
}

// url is the base URL of a listener at addr.
func (h *httpsSetup) url(addr net.Addr) string {
	switch {
	case h.acme != nil:
		return h.acme.url(addr)
	case h.files != nil:
		return "https://" + h.files.urlHost(addr)
	}
	return "http://" + urlHost(addr)
}

// close releases what the HTTPS side holds beyond the listener: the ACME
// client's connections. Safe on a nil *httpsSetup and more than once.
func (h *httpsSetup) close() {
	if h != nil && h.acme != nil {
		h.acme.close()
	}
}

// serve runs the HTTP server on the listener until it is shut down, over TLS
// when the server has a TLS configuration.
func (s *Server) serve() error {
	if s.http.TLSConfig != nil {
		return s.http.ServeTLS(s.ln, "", "") // certificates come from TLSConfig
	}
	return s.http.Serve(s.ln)
}

// warnIfPlainHTTP logs a warning when plain HTTP is served on an address
// that other machines can reach: browsers give a page the camera and the
// microphone only in a secure context (https:// or http://localhost), so
// visitors could open the page but never start a call. The warning says
// what to do for each case: a local try, HTTPS, or loopback only.
func warnIfPlainHTTP(log *slog.Logger, addr net.Addr) {
	if !exposedAddr(addr) {
		return
	}
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		port = "PORT"
	}
	log.Warn("serving plain HTTP on a non-loopback address: other machines can open the page, but browsers "+
		"give the camera and microphone only to https:// pages and http://localhost, so they cannot start a call. "+
		"Trying tandem on this machine: open http://localhost:"+port+" (this warning does not matter). "+
		"Serving other machines: set TANDEM_ACME_DOMAINS (automatic certificate) or TANDEM_TLS_CERT and TANDEM_TLS_KEY, "+
		"or put tandem behind an HTTPS reverse proxy and ignore this warning; see docs/https.md. "+
		"Listening on this machine only: set TANDEM_HTTP_ADDR=127.0.0.1:"+port+" (no warning)",
		"addr", addr.String())
}

// exposedAddr reports whether a listener at addr is reachable from other
// machines: any address but a loopback one (an unspecified address listens
// on every interface).
func exposedAddr(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return !ok || !tcp.IP.IsLoopback()
}
