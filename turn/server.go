// Package turn is tandem's embedded TURN server (built on pion/turn) and the
// short-lived credentials, in coturn's TURN REST API scheme, that tandem
// hands each user. It also works with the embedded server switched off,
// handing out credentials for an external coturn that shares the secret.
package turn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/pion/transport/v5/reuseport"
	pionturn "github.com/pion/turn/v5"

	"github.com/tandemchat/tandem/internal/pionlog"
)

// drainTimeout bounds how long Close waits for pion to close the relay
// sockets of the allocations that were live at shutdown.
const drainTimeout = 5 * time.Second

// Server is the embedded TURN server. Create it with New and end it with
// Close. All methods are safe for concurrent use, and ICEServers, Stats and
// Close are also safe on a nil *Server.
type Server struct {
	cfg    Config
	secret string
	log    *slog.Logger
	meters *meters
	now    func() time.Time
	ledger *ledger  // the users whose credentials work; embedded server only
	quota  *ipQuota // allocations per client IP and in total
	policy *relayPolicy

	// Set by start and never changed afterwards; nil when not listening.
	pion    *pionturn.Server
	relayIP net.IP
	udpAddr *net.UDPAddr
	tcpAddr *net.TCPAddr
	tlsAddr *net.TCPAddr
	tracked []*trackingListener // TCP and TLS client listeners

	closeOnce sync.Once
	closeErr  error
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	// Allocations is the number of allocations currently open.
	Allocations int64 `json:"allocations"`
	// RelayedBytes is the total of bytes relayed since start, counted on the
	// relay sockets in both directions (to and from peers).
	RelayedBytes uint64 `json:"relayedBytes"`
	// RefusedPerIP and RefusedTotal count allocations refused (486) because
	// the client IP, or the whole server, held its maximum.
	RefusedPerIP uint64 `json:"refusedPerIP"`
	RefusedTotal uint64 `json:"refusedTotal"`
	// RefusedTCP counts RFC 6062 TCP allocations and Connects refused.
	RefusedTCP uint64 `json:"refusedTCP"`
	// RefusedCredentials counts requests whose credentials belong to a
	// session that has ended (or was never handed them by this process).
	RefusedCredentials uint64 `json:"refusedCredentials"`
	// PermissionsRefused counts permissions and channel bindings refused
	// (403) for peers that are not tandem's media addresses.
	PermissionsRefused uint64 `json:"permissionsRefused"`
	// DatagramsDropped counts datagrams a relay did not pass: to or from a
	// port that is not one of tandem's media ports.
	DatagramsDropped uint64 `json:"datagramsDropped"`
}

// New configures the server and, unless cfg.Addr is "", starts listening on
// UDP and TCP at cfg.Addr and, when cfg.TLSAddr is set, TLS at cfg.TLSAddr.
// On any start-up error it closes whatever it had opened. log may be nil.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("turn config: %w", err)
	}
	s := &Server{cfg: cfg, secret: cfg.Secret, log: log, meters: &meters{}, now: time.Now,
		ledger: newLedger(cfg.CredentialGrace)}
	s.quota = newIPQuota(cfg.AllocationsPerIP, cfg.MaxAllocations, s.now)
	s.policy = newRelayPolicy(cfg, s.meters)
	if s.secret == "" {
		secret, err := randomSecret()
		if err != nil {
			return nil, err
		}
		s.secret = secret
		log.Info("TURN secret not configured: using a random one; credentials end with this process")
	}
	if cfg.Addr == "" {
		log.Info("embedded TURN server off", "externalURLs", cfg.ExternalURLs)
		return s, nil
	}
	if err := s.start(); err != nil {
		return nil, err
	}
	log.Info("embedded TURN server listening", "udp", s.udpAddr, "tcp", s.tcpAddr,
		"tls", s.tlsAddr, "relayIP", s.relayIP,
		"relayPorts", cfg.relayPortsText(),
		"peers", cfg.AllowedPeers, "peerPorts", cfg.MediaPorts,
		"allocationsPerIP", cfg.AllocationsPerIP, "maxAllocations", cfg.MaxAllocations)
	return s, nil
}

// start opens the listeners and the pion server. On error everything opened
// so far is closed again.
func (s *Server) start() (err error) {
	var opened []interface{ Close() error }
	defer func() {
		if err != nil {
			for i := len(opened) - 1; i >= 0; i-- {
				_ = opened[i].Close()
			}
		}
	}()

	udps, tcp, err := listenPair(s.cfg.Addr)
	if err != nil {
		return err
	}
	for _, c := range udps {
		opened = append(opened, c)
	}
	tcpLn := newTrackingListener(tcp, s.log)
	opened = append(opened, tcpLn)
	s.tracked = append(s.tracked, tcpLn)
	s.udpAddr = udps[0].LocalAddr().(*net.UDPAddr)
	s.tcpAddr = tcp.Addr().(*net.TCPAddr)

	listeners := []net.Listener{tcpLn}
	if s.cfg.TLSAddr != "" {
		_, tlsNet := networksFor(s.cfg.TLSAddr)
		raw, err := net.Listen(tlsNet, s.cfg.TLSAddr)
		if err != nil {
			return fmt.Errorf("TURN listen TLS %s: %w", s.cfg.TLSAddr, err)
		}
		tlsLn := newTrackingListener(raw, s.log)
		opened = append(opened, tlsLn)
		s.tracked = append(s.tracked, tlsLn)
		s.tlsAddr = raw.Addr().(*net.TCPAddr)
		listeners = append(listeners, newTLSListener(tlsLn, s.cfg.TLSConfig))
	}

	s.relayIP, err = chooseRelayIP(s.cfg.PublicIP, s.udpAddr.IP)
	if err != nil {
		return err
	}
	s.pion, err = pionturn.NewServer(s.pionConfig(udps, listeners))
	if err != nil {
		return fmt.Errorf("start pion TURN server: %w", err)
	}
	return nil
}

// listenPair opens the UDP sockets and the TCP listener on addr. There is
// one UDP socket per GOMAXPROCS, all on the same port with SO_REUSEPORT:
// pion reads each with one goroutine, and the kernel spreads clients over
// them by address hash, so UDP relaying is not capped at one core. With
// port 0 it looks for one port free for UDP and TCP, so the URLs for both
// transports share it.
func listenPair(addr string) ([]net.PacketConn, net.Listener, error) {
	udpNet, tcpNet := networksFor(addr)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("TURN address %q: %w", addr, err)
	}
	attempts := 1
	if port == "0" {
		attempts = 20
	} else if err := probeUDP(udpNet, addr); err != nil {
		return nil, nil, err
	}
	for i := 0; ; i++ {
		udp, err := listenReusePort(udpNet, addr)
		if err != nil {
			return nil, nil, fmt.Errorf("TURN listen UDP %s: %w", addr, err)
		}
		bound := net.JoinHostPort(host, strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port))
		tcp, err := net.Listen(tcpNet, bound)
		if err != nil {
			_ = udp.Close()
			if i+1 >= attempts {
				return nil, nil, fmt.Errorf("TURN listen TCP %s: %w", bound, err)
			}
			continue
		}
		conns := []net.PacketConn{udp}
		for len(conns) < runtime.GOMAXPROCS(0) {
			more, err := listenReusePort(udpNet, bound)
			if err != nil {
				closeAll(conns)
				_ = tcp.Close()
				return nil, nil, fmt.Errorf("TURN listen UDP %s (socket %d): %w", bound, len(conns)+1, err)
			}
			conns = append(conns, more)
		}
		for _, c := range conns {
			growBuffers(c)
		}
		return conns, tcp, nil
	}
}

// probeUDP fails when another socket holds the UDP address: SO_REUSEPORT
// alone would let a second tandem on the same port silently share it.
func probeUDP(network, addr string) error {
	c, err := net.ListenPacket(network, addr)
	if err != nil {
		return fmt.Errorf("TURN listen UDP %s: %w", addr, err)
	}
	return c.Close()
}

// listenReusePort opens a UDP socket with SO_REUSEADDR and SO_REUSEPORT.
func listenReusePort(network, addr string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: reuseport.Control}
	return lc.ListenPacket(context.Background(), network, addr)
}

func closeAll(conns []net.PacketConn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// pionConfig assembles pion's server configuration around our listeners.
func (s *Server) pionConfig(udps []net.PacketConn, listeners []net.Listener) pionturn.ServerConfig {
	users := newUserQuota(s.cfg.MaxAllocationsPerUser)
	bindIP := s.udpAddr.IP.String()
	gen := newRelayGenerator(s.relayIP, bindIP, s.cfg.RelayPortMin, s.cfg.RelayPortMax,
		users, s.policy, s.ledger, s.meters)
	permit := s.policy.permit

	pc := pionturn.ServerConfig{
		Realm:         s.cfg.Realm,
		AuthHandler:   newAuthHandler(s.secret, s.now, s.ledger, s.meters),
		LoggerFactory: pionlog.New(s.log),
		QuotaHandler:  func(userID, _ string, src net.Addr) bool { return s.admit(users, userID, src) },
		EventHandler: pionturn.EventHandler{
			OnAllocationCreated: func(src, _ net.Addr, _, _, _ string, _ net.Addr, _ int) { s.quota.created(src) },
			OnAllocationDeleted: func(src, _ net.Addr, _, _, _ string) { s.quota.deleted(src) },
		},
	}
	for _, udp := range udps {
		pc.PacketConnConfigs = append(pc.PacketConnConfigs, pionturn.PacketConnConfig{
			PacketConn: udp, RelayAddressGenerator: gen, PermissionHandler: permit,
		})
	}
	for _, ln := range listeners {
		pc.ListenerConfigs = append(pc.ListenerConfigs, pionturn.ListenerConfig{
			Listener: ln, RelayAddressGenerator: gen, PermissionHandler: permit,
		})
	}
	return pc
}

// admit is pion's quota check before an allocation (refusals get 486 Allocation Quota
// Reached): the user's own quota, then a slot of the client IP's share and of the total.
func (s *Server) admit(users *userQuota, userID string, src net.Addr) bool {
	if !users.available(userID) {
		return false
	}
	ok, cause := s.quota.reserve(src)
	switch cause {
	case refusedPerIP:
		s.meters.refusedPerIP.Add(1)
	case refusedTotal:
		s.meters.refusedTotal.Add(1)
	}
	if !ok {
		s.log.Debug("TURN allocation refused", "client", src, "cause", cause)
	}
	return ok
}

// Release ends userID's credentials: after the grace period they stop
// working and every allocation made with them is closed. Call it when the
// session that received them ends. Safe on a nil *Server.
func (s *Server) Release(userID string) {
	if s == nil {
		return
	}
	s.ledger.release(userID)
}

// Close stops the listeners, ends every client connection and allocation,
// and waits (bounded) until pion has closed all relay sockets. Calling it
// again returns the first result.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	s.closeOnce.Do(func() {
		s.ledger.close()
		if s.pion == nil {
			return
		}
		if err := s.pion.Close(); err != nil {
			s.closeErr = fmt.Errorf("close TURN server: %w", err)
		}
		if err := s.waitDrained(drainTimeout); err != nil {
			s.closeErr = errors.Join(s.closeErr, err)
		}
	})
	return s.closeErr
}

// waitDrained polls until no relay socket is open or timeout passes. Pion
// closes relay sockets from its own read-loop goroutines after the
// listeners close, so Close has no event to wait on.
func (s *Server) waitDrained(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for s.meters.allocations.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("close TURN server: %d allocations still open after %v",
				s.meters.allocations.Load(), timeout)
		case <-tick.C:
		}
	}
	return nil
}

// Stats returns the current counters. Zero on a nil *Server.
func (s *Server) Stats() Stats {
	if s == nil {
		return Stats{}
	}
	return Stats{
		Allocations:        s.meters.allocations.Load(),
		RelayedBytes:       s.meters.relayedBytes.Load(),
		RefusedPerIP:       s.meters.refusedPerIP.Load(),
		RefusedTotal:       s.meters.refusedTotal.Load(),
		RefusedTCP:         s.meters.refusedTCP.Load(),
		RefusedCredentials: s.meters.refusedCredentials.Load(),
		PermissionsRefused: s.meters.permissionsRefused.Load(),
		DatagramsDropped:   s.meters.datagramsDropped.Load(),
	}
}
