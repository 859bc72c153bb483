// Package transport carries the SFU's media between the clients' sockets and the SFU's
// forwarding logic without Pion's media pipeline. It owns the ICE sockets (and the pollers
// that read them on Linux), the wrappers around Pion's muxed UDP port and ICE-TCP
// connections, the capture of the DTLS-SRTP keys, and both SRTP directions. Pion still does
// ICE, DTLS and the signalling state; the transport takes the media off its hands.
//
// # The seam
//
// The package imports nothing of package sfu. sfu uses it through three things:
//
//   - Transport, one per SFU: the pollers, the routes of the muxed UDP port, and the Net the
//     muxed port is opened with (MuxNet).
//   - Conn, one per PeerConnection (Transport.NewConn): Configure adds the hooks of the fast
//     paths to the PeerConnection's SettingEngine; SelectPair follows ICE's selected pair;
//     WriteRTP and WriteRTCP encrypt and send the server's packets and report whether they
//     took them (when they did not, the caller writes through Pion); Close.
//   - Sink, implemented by sfu per PeerConnection: the transport calls HandleRTP and
//     HandleRTCP with each packet it decrypted, on the goroutine that read the socket.
//
// What the transport does not take (STUN, DTLS, and media it cannot decrypt yet) goes on to
// Pion, whose receive path sfu reads as before; sfu feeds both into the same handlers.
//
// # What it assumes of Pion
//
// Pion keeps the DTLS-SRTP keys to itself. The transport rebuilds them (keys.go), which only
// works, and only is safe, while these hold (TestPionAssumptions checks each with real
// PeerConnections and names the one that broke):
//
//  1. The DTLS key log hook (SettingEngine.SetDTLSKeyLogWriter) receives the
//     "CLIENT_RANDOM <client random> <master secret>" line of each handshake, and the
//     ServerHello hook (SetDTLSServerHelloMessageHook) sees the ServerHello with the
//     cipher suite and the use_srtp profile. Without them no keys come out and every packet
//     takes Pion's path: slower, but nothing is lost.
//  2. With SetAnsweringDTLSRole(DTLSRoleServer) the server is the DTLS server when it
//     answers a browser's offer (browsers offer actpass), so the ServerHello hook runs.
//  3. The keys are complete before Pion starts its SRTP sessions: the key log line is
//     written during the handshake, and Pion starts SRTP only once DTLS is connected. Once
//     the keys are known every packet the server sends goes through Conn, and none through
//     Pion's SRTP session, so two contexts never encrypt the same stream (which would reuse
//     AES-GCM nonces) and none of the server's packets is encrypted with keys the client
//     does not expect. ICE selects its pair before DTLS starts, so Conn knows where to send
//     when its keys arrive.
//
// # Concurrency
//
// Everything exported is safe for concurrent use. The receive path runs on the goroutine
// that reads a socket (a poller's, or ICE's read goroutine for sockets the net package
// reads); it takes no lock beyond the SRTP context's short one and allocates nothing.
package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"

	piontransport "github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// Config is what a Transport needs from its owner. The zero value works: no logging, no
// source refused.
type Config struct {
	// Log receives the transport's rare debug lines (never one per packet).
	Log *slog.Logger
	// RefusesSource reports whether a datagram from addr that would go to Pion's ICE agent
	// must be dropped instead (the owner counts it). It is called on the reading goroutines
	// and must be fast and safe for concurrent use. Nil refuses nothing.
	RefusesSource func(addr netip.AddrPort) bool
}

// Transport is the process-wide part: the pollers and the routes of the muxed UDP port.
// Safe for concurrent use.
type Transport struct {
	cfg     Config
	hostNet piontransport.Net // the real network, wrapped per PeerConnection by mediaNet
	pollers []*poller         // read the IPv4 sockets (poller_linux.go); none elsewhere
	routes  muxRoutes         // the muxed port's media handed to its peer (muxroutes.go)
	stats   counters
}

// Stats are the transport's counters, monotonic since New.
type Stats struct {
	// PacketsDecrypted counts the clients' RTP and RTCP packets the transport decrypted.
	PacketsDecrypted uint64
	// PacketsSent counts the RTP packets it encrypted and wrote to a client's socket.
	PacketsSent uint64
}

type counters struct {
	decrypted, sent atomic.Uint64
}

// New starts a Transport: one poller per CPU the Go runtime uses (on Linux). Close stops
// them.
func New(cfg Config) (*Transport, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.RefusesSource == nil {
		cfg.RefusesSource = func(netip.AddrPort) bool { return false }
	}
	t := &Transport{cfg: cfg}
	t.routes.in = make(map[netip.AddrPort]*inbound)
	t.routes.refuses = cfg.RefusesSource
	var err error
	if t.hostNet, err = stdnet.NewNet(); err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	if t.pollers, err = newPollers(); err != nil {
		return nil, err
	}
	return t, nil
}

// MuxNet is the Net to open the muxed UDP port with (ice.UDPMuxFromPortWithNet): its IPv4
// sockets are read by the pollers, and each peer's media on them goes straight to the
// peer's Conn.
func (t *Transport) MuxNet() piontransport.Net { return &muxNet{Net: t.hostNet, t: t} }

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats {
	return Stats{PacketsDecrypted: t.stats.decrypted.Load(), PacketsSent: t.stats.sent.Load()}
}

// Close stops the pollers. The sockets are closed by their owners (Pion's ICE agents and the
// muxes), before. Call it once.
func (t *Transport) Close() error {
	var errs []error
	for _, p := range t.pollers {
		if err := p.close(); err != nil {
			errs = append(errs, fmt.Errorf("close poller: %w", err))
		}
	}
	return errors.Join(errs...)
}

// pollerSockets is how many sockets a poller takes before new ones go to the next. A poller
// wakes for whatever its sockets received while it slept, so the fewer pollers share the
// traffic, the more each wake-up reads; one goroutine reads 64 busy pairs with ease, so
// sockets are packed onto as few pollers as the load needs.
const pollerSockets = 128

// nextPoller returns the poller for a new socket: the first with room, else the least loaded;
// nil if there are none.
func (t *Transport) nextPoller() *poller {
	var least *poller
	leastN := 0
	for _, p := range t.pollers {
		n := p.sockets()
		if n < pollerSockets {
			return p
		}
		if least == nil || n < leastN {
			least, leastN = p, n
		}
	}
	return least
}
