package transport

import (
	"fmt"
	"log/slog"

	"github.com/pion/ice/v4"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Sink receives what a Conn decrypted: the client's media. Its methods are called on the
// goroutine that read the packet from the socket (one at a time per socket, but a Conn may
// have several sockets), must not block, and should not allocate: they are the hot path.
// The arguments are valid only during the call.
type Sink interface {
	// HandleRTP gets one decrypted RTP packet, parsed into pkt (which the sink may modify
	// in place); size is its length in bytes.
	HandleRTP(pkt *rtp.Packet, size int)
	// HandleRTCP gets one decrypted compound RTCP packet.
	HandleRTCP(plain []byte)
}

// Conn is the transport of one PeerConnection: its sockets (or its share of the muxed ones),
// the key capture and both SRTP directions. Create it with Transport.NewConn before the
// PeerConnection, hand the PeerConnection's SettingEngine to Configure, and close it when
// the PeerConnection is closed. Safe for concurrent use.
type Conn struct {
	t   *Transport
	log *slog.Logger
	in  *inbound
	out *outbound
}

// NewConn returns the transport of a new PeerConnection, whose decrypted media goes to sink.
// log names the PeerConnection in the Conn's debug lines.
func (t *Transport) NewConn(sink Sink, log *slog.Logger) *Conn {
	if log == nil {
		log = t.cfg.Log
	}
	c := &Conn{t: t, log: log}
	c.in = newInbound(t, sink, log)
	c.out = newOutbound(t, c.in, log)
	c.in.keys.ready = func(k srtpKeys) {
		// Both directions at once, before Pion's SRTP sessions start (see the package doc).
		c.out.setKeys(k)
		c.in.setKeys(k)
	}
	return c
}

// Configure adds the Conn's hooks to se, the SettingEngine of its PeerConnection (a copy of
// its own: the hooks belong to this connection only). The server becomes the DTLS server and
// the handshake's keys are captured; ICE opens its UDP sockets through the transport (or, if
// udpMux is not nil, gets its share of the muxed port through it); tcpMux, if not nil, is the
// ICE-TCP mux, wrapped likewise.
func (c *Conn) Configure(se *webrtc.SettingEngine, udpMux ice.UDPMux, tcpMux ice.TCPMux) error {
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
		return fmt.Errorf("dtls role: %w", err)
	}
	se.SetDTLSKeyLogWriter(&c.in.keys)
	se.SetDTLSServerHelloMessageHook(c.in.keys.serverHello)
	if udpMux == nil {
		se.SetNet(&mediaNet{Net: c.t.hostNet, t: c.t, in: c.in, out: c.out})
	} else {
		se.SetICEUDPMux(&peerUDPMux{UDPMux: udpMux, in: c.in, out: c.out})
	}
	if tcpMux != nil {
		se.SetICETCPMux(&peerTCPMux{TCPMux: tcpMux, in: c.in, out: c.out})
	}
	return nil
}

// SelectPair follows ICE's selected candidate pair: install it with
// ICETransport.OnSelectedCandidatePairChange. The server's packets go to the pair's remote
// address, through the socket of its local candidate.
func (c *Conn) SelectPair(pair *webrtc.ICECandidatePair) { c.out.selectPair(pair) }

// WriteRTP encrypts one RTP packet of the server's and sends it to the client, if the
// Conn's keys are known, and reports whether it took the packet (sent, or dropped with
// err). When it did not, the caller writes the packet through Pion. Zero allocations.
func (c *Conn) WriteRTP(h *rtp.Header, payload []byte) (taken bool, err error) {
	return c.out.writeRTP(h, payload)
}

// WriteRTCP is WriteRTP for one compound RTCP packet. It allocates the marshalled packet
// (RTCP goes out a few times a second, not per forwarded packet).
func (c *Conn) WriteRTCP(pkts []rtcp.Packet) (taken bool, err error) {
	return c.out.writeRTCP(pkts)
}

// Close forgets the Conn's route on the muxed port; call it once the PeerConnection is
// closed (its sockets are closed with it).
func (c *Conn) Close() { c.out.close() }
