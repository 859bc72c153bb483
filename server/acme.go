package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/tandemchat/tandem/config"
)

// acmeCerts obtains and renews certificates for the configured domains from
// an ACME certificate authority (Let's Encrypt unless configured otherwise),
// with golang.org/x/crypto/acme/autocert. The first TLS handshake for a
// domain without a certificate obtains one (TLS-ALPN-01 is answered on the
// HTTPS listener itself, HTTP-01 by redirectHandler); certificates and the
// account key are kept in a directory so a restart reuses them; autocert
// renews each certificate in the background 30 days before it expires.
//
// All methods are safe for concurrent use. autocert offers no way to stop
// its renewal timers (they hold no goroutine until they fire) or an issuance
// in progress: a handshake that is obtaining a certificate when the server
// closes finishes that work (each ACME request is bounded by a minute).
type acmeCerts struct {
	manager   *autocert.Manager
	domains   []string        // lower case, as configured
	transport *http.Transport // the ACME client's, closed by close
	log       *slog.Logger

	mu       sync.Mutex
	warnedAt time.Time // when the last failure to get a certificate was logged
}

// failureLogInterval spaces the warnings about failing to get a
// certificate: autocert remembers a failure for a minute and fails every
// handshake in that time at once, which must not become a log line each.
const failureLogInterval = time.Minute

// newACMECerts prepares the certificate manager; it contacts the authority
// only when a certificate is first needed.
func newACMECerts(cfg config.HTTP, log *slog.Logger) (*acmeCerts, error) {
	roots, err := acmeRoots(cfg.ACMECAFile)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.ACMECacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("ACME certificate cache: %w", err)
	}
	domains := make([]string, len(cfg.ACMEDomains))
	for i, d := range cfg.ACMEDomains {
		domains[i] = strings.ToLower(strings.TrimSuffix(d, "."))
	}
	a := &acmeCerts{
		domains: domains,
		log:     log,
		// ACME traffic is a few requests a month: no keep-alive, so no idle
		// connection outlives a request (or the server).
		transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			DisableKeepAlives:     true,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
		},
	}
	a.manager = &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      loggedCache{autocert.DirCache(cfg.ACMECacheDir), log},
		HostPolicy: autocert.HostWhitelist(domains...),
		Email:      cfg.ACMEEmail,
		Client: &acme.Client{
			DirectoryURL: cfg.ACMEDirectory, // empty means Let's Encrypt production
			HTTPClient:   &http.Client{Transport: a.transport, Timeout: time.Minute},
			UserAgent:    "tandem",
		},
	}
	directory := cfg.ACMEDirectory
	if directory == "" {
		directory = autocert.DefaultACMEDirectory
	}
	log.Info("automatic certificates", "domains", domains, "directory", directory, "cache", cfg.ACMECacheDir)
	return a, nil
}

// acmeRoots is the trust store for the ACME directory: the system roots,
// plus the certificates in caFile when one is configured.
func acmeRoots(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil // nil RootCAs means the system roots
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("ACME CA file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ACME CA file %s: no PEM certificate in it", caFile)
	}
	return pool, nil
}

// serverConfig is the HTTPS listener's TLS configuration: HTTP/2, HTTP/1.1
// and the TLS-ALPN-01 challenge protocol.
func (a *acmeCerts) serverConfig() *tls.Config {
	return &tls.Config{
		GetCertificate: a.getCertificate,
		NextProtos:     []string{"h2", "http/1.1", acme.ALPNProto},
		MinVersion:     tls.VersionTLS12,
	}
}

// getCertificate is autocert's hook with two additions: a handshake without
// a server name (a client that dialed the IP) gets the first domain's
// certificate, and a failure to obtain a certificate for one of our domains
// is logged, since the visitor only sees a TLS error.
func (a *acmeCerts) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName == "" {
		named := *hello
		named.ServerName = a.domains[0]
		hello = &named
	}
	cert, err := a.manager.GetCertificate(hello)
	if err != nil && slices.Contains(a.domains, strings.ToLower(hello.ServerName)) && a.shouldWarn() {
		a.log.Warn("no certificate for a configured domain", "domain", hello.ServerName, "err", err)
	}
	return cert, err
}

// shouldWarn reports whether failureLogInterval has passed since the last
// warning, and if so starts a new interval.
func (a *acmeCerts) shouldWarn() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now := time.Now(); now.Sub(a.warnedAt) >= failureLogInterval {
		a.warnedAt = now
		return true
	}
	return false
}

// redirectHandler serves plain HTTP: it answers HTTP-01 challenges and
// redirects everything else to the same path over HTTPS on httpsPort (left
// out of the URL when it is 443). A request for a host that is not one of
// the domains is sent to the first domain, which has a certificate.
func (a *acmeCerts) redirectHandler(httpsPort string) http.Handler {
	h := a.manager.HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := strings.ToLower(stripPort(r.Host))
		if !slices.Contains(a.domains, host) {
			host = a.domains[0]
		}
		if httpsPort != "443" {
			host = net.JoinHostPort(host, httpsPort)
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// autocert checks the Host header, port included, against the
		// domains; a port forwarded from 80 (or a test) puts one there.
		r = r.WithContext(r.Context())
		r.Host = stripPort(r.Host)
		h.ServeHTTP(w, r)
	})
}

// url is the address visitors open: the first domain, with the port unless 443.
func (a *acmeCerts) url(addr net.Addr) string {
	_, port, _ := net.SplitHostPort(addr.String())
	if port == "443" {
		return "https://" + a.domains[0]
	}
	return "https://" + net.JoinHostPort(a.domains[0], port)
}

// close ends the ACME client's connections. Safe to call more than once.
func (a *acmeCerts) close() { a.transport.CloseIdleConnections() }

// stripPort returns the host of a Host header value, without a port or the
// brackets of an IPv6 literal.
func stripPort(hostport string) string {
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		return host
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}

// loggedCache is the certificate directory, logging what an operator wants
// to know: a certificate was stored (obtained or renewed), or the directory
// failed. Safe for concurrent use, as autocert.DirCache is.
type loggedCache struct {
	autocert.Cache
	log *slog.Logger
}

// Get reads an entry; a miss is normal and not logged.
func (c loggedCache) Get(ctx context.Context, key string) ([]byte, error) {
	data, err := c.Cache.Get(ctx, key)
	if err != nil && !errors.Is(err, autocert.ErrCacheMiss) {
		c.log.Warn("ACME certificate cache unreadable", "key", key, "err", err)
	}
	return data, err
}

// Put stores an entry and logs certificates (not challenge tokens or the
// account key) by domain.
func (c loggedCache) Put(ctx context.Context, key string, data []byte) error {
	err := c.Cache.Put(ctx, key, data)
	switch {
	case err != nil:
		c.log.Warn("ACME certificate cache not writable: the certificate will be requested again at the next start",
			"key", key, "err", err)
	case !strings.Contains(key, "+token") && !strings.HasSuffix(key, "+http-01") && key != "acme_account+key":
		c.log.Info("certificate obtained and cached", "domain", strings.TrimSuffix(key, "+rsa"))
	}
	return err
}
