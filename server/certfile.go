package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
)

// certFile serves a certificate and private key read from PEM files, and
// picks up a renewed pair without a restart: every TLS handshake compares
// the files' size and modification time with the loaded pair's and reloads
// when either changed. A pair that does not load (say, a certificate already
// replaced whose key is not yet) keeps the previous certificate in service
// and is retried on the next handshake; each failing pair is logged once.
//
// certFile is safe for concurrent use: GetCertificate may run from any number
// of handshakes at once.
type certFile struct {
	certPath, keyPath string
	log               *slog.Logger

	mu     sync.Mutex
	cert   *tls.Certificate // the pair in service, never nil after loadCertFile
	loaded fileStamp        // the files as they were when cert was read
	failed fileStamp        // the last pair that failed to load, logged already
}

// fileStamp identifies one version of the certificate and key files.
type fileStamp struct {
	certSize, keySize int64
	certMod, keyMod   int64 // modification times, Unix nanoseconds
}

// loadCertFile reads the pair once; an error here stops the server from
// starting, since there is no previous certificate to fall back on.
func loadCertFile(certPath, keyPath string, log *slog.Logger) (*certFile, error) {
	c := &certFile{certPath: certPath, keyPath: keyPath, log: log}
	stamp, err := c.stamp()
	if err != nil {
		return nil, err
	}
	if err := c.load(stamp); err != nil {
		return nil, err
	}
	log.Info("TLS certificate loaded", "file", certPath,
		"names", c.cert.Leaf.DNSNames, "expires", c.cert.Leaf.NotAfter)
	return c, nil
}

// GetCertificate is the tls.Config hook: the current pair, reloaded first if
// the files changed since it was read.
func (c *certFile) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stamp, err := c.stamp()
	if err != nil || stamp == c.loaded || stamp == c.failed {
		return c.cert, nil // files missing mid-rotation or unchanged: keep serving
	}
	if err := c.load(stamp); err != nil {
		c.failed = stamp
		c.log.Warn("TLS certificate files changed but do not load; still serving the previous certificate",
			"file", c.certPath, "err", err)
		return c.cert, nil
	}
	c.log.Info("TLS certificate reloaded", "file", c.certPath,
		"names", c.cert.Leaf.DNSNames, "expires", c.cert.Leaf.NotAfter)
	return c.cert, nil
}

// urlHost renders the listener address at addr with the certificate's first
// DNS name (not a wildcard) as host, so that the URL printed at start
// matches the certificate; without one, as urlHost does.
func (c *certFile) urlHost(addr net.Addr) string {
	c.mu.Lock()
	names := c.cert.Leaf.DNSNames
	c.mu.Unlock()
	_, port, err := net.SplitHostPort(addr.String())
	for _, name := range names {
		if err == nil && !strings.HasPrefix(name, "*") {
			if port == "443" {
				return name
			}
			return net.JoinHostPort(name, port)
		}
	}
	return urlHost(addr)
}

// load reads and parses the pair, recording stamp as the loaded version.
// The caller holds mu (or is the constructor).
func (c *certFile) load(stamp fileStamp) error {
	pair, err := tls.LoadX509KeyPair(c.certPath, c.keyPath)
	if err == nil && pair.Leaf == nil { // GODEBUG=x509keypairleaf=0
		pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0])
	}
	if err != nil {
		return fmt.Errorf("load TLS certificate %s and key %s: %w", c.certPath, c.keyPath, err)
	}
	c.cert, c.loaded = &pair, stamp
	return nil
}

// stamp reads the current size and modification time of both files.
func (c *certFile) stamp() (fileStamp, error) {
	ci, err := os.Stat(c.certPath)
	if err != nil {
		return fileStamp{}, fmt.Errorf("TLS certificate: %w", err)
	}
	ki, err := os.Stat(c.keyPath)
	if err != nil {
		return fileStamp{}, fmt.Errorf("TLS key: %w", err)
	}
	return fileStamp{
		certSize: ci.Size(), keySize: ki.Size(),
		certMod: ci.ModTime().UnixNano(), keyMod: ki.ModTime().UnixNano(),
	}, nil
}
