package server

import (
	"crypto/tls"
	"crypto/x509"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
	"github.com/tandemchat/tandem/internal/testlog"
	"go.uber.org/goleak"
)

// pebbleLeak is the validation queue reader every Pebble VA starts and
// nothing can stop; it is Pebble's, not tandem's, and outlives the test that
// started it.
var pebbleLeak = goleak.IgnoreTopFunction("github.com/letsencrypt/pebble/v2/va.VAImpl.processTasks")

// testACME is an ACME certificate authority (Pebble's web front end, CA and
// validation authority, wired as its cmd/pebble does) running in the test
// process on an httptest HTTPS server on 127.0.0.1, whose own certificate
// comes from a test CA.
type testACME struct {
	directory string         // the ACME directory URL
	caFile    string         // PEM of the CA behind the directory's own HTTPS certificate
	roots     *x509.CertPool // the roots Pebble issues under; set by install
	orders    atomic.Int64   // new-order requests received

	handler atomic.Pointer[http.Handler] // Pebble, once installed
}

// startPebble runs a Pebble whose validation always succeeds
// (PEBBLE_VA_ALWAYS_VALID), so no traffic goes to the names it certifies.
func startPebble(t *testing.T) *testACME {
	t.Helper()
	t.Setenv("PEBBLE_VA_ALWAYS_VALID", "1")
	a := startACMEFrontEnd(t)
	a.install(t, 80, 443, "")
	return a
}

// startACMEFrontEnd opens the directory's HTTPS listener; it answers 503
// until install puts Pebble behind it, so the directory URL is known before
// the ports Pebble validates on.
func startACMEFrontEnd(t *testing.T) *testACME {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	a := &testACME{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := a.handler.Load()
		if h == nil {
			http.Error(w, "pebble not installed", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/order-plz" {
			a.orders.Add(1)
		}
		(*h).ServeHTTP(w, r)
	}))
	httpsCA := newTestCA(t)
	certPEM, keyPEM := httpsCA.issue(t, "127.0.0.1")
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{tlsPair(t, certPEM, keyPEM)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	a.directory = srv.URL + "/dir"
	a.caFile = writeFile(t, t.TempDir(), "acme-ca.pem", httpsCA.pem)
	return a
}

// install builds Pebble: its validation authority checks HTTP-01 on
// httpPort and TLS-ALPN-01 on tlsPort of the address resolver (a DNS server
// over TCP; "" for the system's) gives for the name.
func (a *testACME) install(t *testing.T, httpPort, tlsPort int, resolver string) {
	t.Helper()
	logs := &testlog.Buffer{}
	logs.PrintOnFailure(t, "pebble log")
	logger := log.New(logs, "pebble ", log.LstdFlags)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "test"}})
	validator := va.New(logger, httpPort, tlsPort, false, resolver, store)
	frontEnd := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	a.roots = x509.NewCertPool()
	a.roots.AddCert(authority.GetRootCert(0).Cert)
	h := frontEnd.Handler()
	a.handler.Store(&h)
}

// startLoopbackDNS runs a DNS server over TCP on 127.0.0.1 that answers
// every A query with 127.0.0.1 and every other query with no records, so a
// validation authority using it reaches only this machine. It stops when the
// test ends and returns its address.
func startLoopbackDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, question := range q.Question {
			if question.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	served := make(chan error, 1)
	go func() { served <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-served:
		t.Fatalf("DNS server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Errorf("DNS shutdown: %v", err)
		}
		<-served
	})
	return ln.Addr().String()
}
