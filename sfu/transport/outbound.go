package transport

import (
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// outbound is a Conn's fast send path, the counterpart of inbound. Pion's write path takes a
// forwarded packet through its interceptor chain, the SRTP session, the DTLS/SRTP mux and the
// ICE connection before the socket (locks, a channel check, buffer pools: about 7 % of the
// server's CPU under load beyond the encryption and the system call themselves,
// docs/performance.md). outbound encrypts the RTP of the server's two tracks with its own
// SRTP context, made from the keys keyCapture rebuilt, and writes it to the socket and
// address of ICE's selected candidate pair.
//
// One context per direction and stream: once the keys are known every RTP packet of the
// server's tracks goes through outbound and none through Pion's SRTP session, so two contexts
// never encrypt the same SSRC (which, with their rollover counters apart, could reuse an
// AES-GCM nonce). Without keys (the server is not the DTLS server, or a profile srtp does not
// know) Pion's path carries everything, as before. Pion's SRTP session starts only after the
// handshake, and drops what is written before; the keys, if any, are known during the
// handshake (the key log is written before the Finished messages). The same holds for RTCP
// (writeRTCP): the SRTCP indexes of the server's reports, NACKs, PLIs and congestion control
// feedback all come from outbound's context once it is armed.
//
// Concurrency: writeRTP may be called by several goroutines (the forwarding goroutines of the
// old and new partner around a switch, NACK answers); mu guards the context and is not held
// across the network write.
type outbound struct {
	t   *Transport
	log *slog.Logger
	in  *inbound // the same Conn's, routed to by muxRoutes while the pair is on the muxed port

	route atomic.Pointer[outRoute] // the selected candidate pair, if it is on one of the sockets

	socketsMu sync.Mutex
	sockets   []mediaSocket // the PC's ICE sockets

	armed   atomic.Bool // ctx is set
	mu      sync.Mutex
	ctx     *srtp.Context // encrypts the server's RTP and RTCP; nil until the keys are known
	hdr     rtp.Header    // scratch for EncryptRTP
	rtcpHdr rtcp.Header   // scratch for EncryptRTCP

	bufs sync.Pool // of *[outBufSize]byte
}

// outRoute is where the selected candidate pair sends: one of the PC's sockets and the
// client's address.
type outRoute struct {
	socket mediaSocket
	addr   netip.AddrPort
	muxed  bool // socket is the peer's share of the muxed UDP port: addr is in muxRoutes
}

// outBufSize holds the largest packet the server forwards (one that arrived in a 1500-byte
// datagram) plus the SRTP authentication tag.
const outBufSize = 1600

// srtpMaxOverhead is the most SRTP adds to an RTP packet: a 16-byte AES-GCM tag (AES-CM with
// HMAC-SHA1 adds 10), with room to spare.
const srtpMaxOverhead = 32

var (
	errNoRoute      = errors.New("write rtp: the selected candidate pair is not on one of the peer's sockets")
	errPacketTooBig = errors.New("write rtp: packet too big")
)

func newOutbound(t *Transport, in *inbound, log *slog.Logger) *outbound {
	o := &outbound{t: t, in: in, log: log}
	o.bufs.New = func() any { return new([outBufSize]byte) }
	return o
}

// setKeys arms the fast send path (called by keyCapture, before Pion's SRTP session starts).
func (o *outbound) setKeys(k srtpKeys) {
	ctx, err := srtp.CreateContext(k.keys.LocalMasterKey, k.keys.LocalMasterSalt, k.profile)
	if err != nil {
		o.log.Debug("fast send path off: srtp context", "err", err)
		return
	}
	o.mu.Lock()
	o.ctx = ctx
	o.mu.Unlock()
	o.armed.Store(true)
}

// addSocket records one of the PC's ICE sockets (called as ICE opens them).
func (o *outbound) addSocket(s mediaSocket) {
	o.socketsMu.Lock()
	o.sockets = append(o.sockets, s)
	o.socketsMu.Unlock()
}

// selectPair follows ICE's selected candidate pair: the route is the socket with the local
// candidate's protocol and port (its base's, for a server-reflexive candidate), or none if
// the pair is not on one of the PC's sockets.
func (o *outbound) selectPair(pair *webrtc.ICECandidatePair) {
	var route *outRoute
	if pair != nil && pair.Local != nil && pair.Remote != nil {
		port := pair.Local.Port
		if pair.Local.Typ == webrtc.ICECandidateTypeSrflx {
			port = pair.Local.RelatedPort
		}
		addr, err := netip.ParseAddr(pair.Remote.Address)
		if err == nil {
			route = o.routeFor(pair.Local.Protocol, port, netip.AddrPortFrom(addr.Unmap(), pair.Remote.Port))
		}
	}
	o.setRoute(route)
}

// setRoute makes route the current one and keeps muxRoutes in step. Called by ICE's
// goroutine and by close, one at a time.
func (o *outbound) setRoute(route *outRoute) {
	prev := o.route.Swap(route)
	routes := &o.t.routes
	if prev != nil && prev.muxed && (route == nil || !route.muxed || route.addr != prev.addr) {
		routes.remove(prev.addr, o.in)
	}
	if route != nil && route.muxed {
		routes.set(route.addr, o.in)
	}
}

// close forgets the route (called when the PeerConnection closes).
func (o *outbound) close() { o.setRoute(nil) }

// routeFor finds the socket of a protocol bound to localPort. Several sockets may have the
// port: the muxed port's on each local IP, or, after an ICE restart, a new socket with the
// port of an old, closed one. The one ICE read the client's packets on wins, else the newest.
func (o *outbound) routeFor(protocol webrtc.ICEProtocol, localPort uint16, remote netip.AddrPort) *outRoute {
	o.socketsMu.Lock()
	defer o.socketsMu.Unlock()
	var found mediaSocket
	for i := len(o.sockets) - 1; i >= 0; i-- {
		s := o.sockets[i]
		if s.transport() != protocol || s.localPort() != localPort {
			continue
		}
		if s.receivedFrom(remote) {
			found = s
			break
		}
		if found == nil {
			found = s
		}
	}
	if found == nil {
		return nil
	}
	_, muxed := found.(*muxConn)
	return &outRoute{socket: found, addr: remote, muxed: muxed && protocol == webrtc.ICEProtocolUDP}
}

// writeRTP sends one RTP packet of the server's tracks if the fast path is armed, and reports
// whether it did (sent or dropped); if not, the caller writes it through Pion. Zero
// allocations.
func (o *outbound) writeRTP(h *rtp.Header, payload []byte) (handled bool, err error) {
	if !o.armed.Load() {
		return false, nil
	}
	route := o.route.Load()
	if route == nil {
		return true, errNoRoute
	}
	buf := o.bufs.Get().(*[outBufSize]byte)
	defer o.bufs.Put(buf)
	n, err := h.MarshalTo(buf[:])
	if err != nil {
		return true, err
	}
	if n+len(payload) > len(buf)-srtpMaxOverhead {
		return true, errPacketTooBig
	}
	n += copy(buf[n:], payload)
	o.mu.Lock()
	enc, err := o.ctx.EncryptRTP(buf[:0], buf[:n], &o.hdr)
	o.mu.Unlock()
	if err != nil {
		return true, err
	}
	if _, err := route.socket.WriteToAddrPort(enc, route.addr); err != nil {
		return true, err
	}
	o.t.stats.sent.Add(1)
	return true, nil
}

// writeRTCP sends one compound RTCP packet like writeRTP: handled is false only if the fast
// path is not armed. It allocates the marshalled packet (RTCP goes out a few times a second
// per peer, not per forwarded packet).
func (o *outbound) writeRTCP(pkts []rtcp.Packet) (handled bool, err error) {
	if !o.armed.Load() {
		return false, nil
	}
	route := o.route.Load()
	if route == nil {
		return true, errNoRoute
	}
	raw, err := rtcp.Marshal(pkts)
	if err != nil {
		return true, err
	}
	buf := o.bufs.Get().(*[outBufSize]byte)
	defer o.bufs.Put(buf)
	o.mu.Lock()
	enc, err := o.ctx.EncryptRTCP(buf[:0], raw, &o.rtcpHdr)
	o.mu.Unlock()
	if err != nil {
		return true, err
	}
	_, err = route.socket.WriteToAddrPort(enc, route.addr)
	return true, err
}
