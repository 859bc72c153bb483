package transport

import (
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// inbound is a Conn's fast receive path. Pion's own receive path hands every packet through
// four goroutines and three buffer copies (ICE read loop, DTLS/SRTP demultiplexer, SRTP
// session, track read) before the SFU sees it, which cost more CPU per forwarded packet than
// all the rest (docs/performance.md). inbound decrypts the client's SRTP and SRTCP on the
// goroutine that reads the socket (a poller's, or ICE's read goroutine for a mediaConn or a
// muxConn), with the keys keyCapture rebuilt, and hands the result to the Conn's Sink: one
// goroutine, one copy.
//
// Packets inbound does not take go on to Pion: media before the keys are known and every
// packet if the keys never are. On the muxed UDP port and ICE over TCP the packets reach
// inbound too (muxRoutes and muxConn hand them over), so those transports take the fast path
// as well.
//
// Concurrency: take runs on the goroutine that reads each of the Conn's sockets (usually
// one); mu guards the SRTP context, and is held only while a packet is decrypted.
type inbound struct {
	t    *Transport
	sink Sink
	log  *slog.Logger
	keys keyCapture

	verified atomic.Bool // a packet authenticated with the captured keys: they are right

	mu  sync.Mutex
	ctx *srtp.Context // decrypts what the client sends; nil until the keys are known
}

// SRTP replay windows of the fast path. Video retransmissions reuse the original sequence
// number (no RTX), so the RTP window must cover a NACK round trip: 256 packets are about a
// second of 2.5 Mbps video (Pion's default of 64 is a quarter of that). The window is shifted
// on every packet, so it is not made larger than needed.
const (
	srtpReplayWindow  = 256
	srtcpReplayWindow = 64
)

func newInbound(t *Transport, sink Sink, log *slog.Logger) *inbound {
	return &inbound{t: t, sink: sink, log: log}
}

// setKeys arms the fast path with the association's keys (called by keyCapture).
func (in *inbound) setKeys(k srtpKeys) {
	// Cryptex (RFC 9335, encrypted header extensions) is accepted but not required, as Pion
	// does when the offer negotiates it; clients that do not use it send plain extensions.
	ctx, err := srtp.CreateContext(k.keys.RemoteMasterKey, k.keys.RemoteMasterSalt, k.profile,
		srtp.SRTPReplayProtection(srtpReplayWindow), srtp.SRTCPReplayProtection(srtcpReplayWindow),
		srtp.Cryptex(srtp.CryptexModeEnabled))
	if err != nil {
		in.log.Debug("fast path off: srtp context", "err", err)
		return
	}
	in.mu.Lock()
	in.ctx = ctx
	in.mu.Unlock()
}

// armed reports whether the keys are known.
func (in *inbound) armed() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.ctx != nil
}

// scratch is the working memory of one reading goroutine (a poller, or a mediaConn's or
// muxConn's reader).
type scratch struct {
	plain   [1500]byte // the decrypted packet
	hdr     rtp.Header
	rtcpHdr rtcp.Header
	pkt     rtp.Packet // what the Sink gets
}

// take handles b if it is the client's SRTP or SRTCP and the keys are known, and reports
// whether it did; if not, the caller passes b on to Pion. Once a packet has authenticated,
// packets that fail to (forged, replayed) are dropped here instead.
func (in *inbound) take(b []byte, s *scratch) bool { return in.takePacket(b, s, true) }

// takeFrom implements packetTaker for a socket of the Conn's own.
// A packet for Pion from a refused address is taken too, and so dropped.
func (in *inbound) takeFrom(b []byte, from netip.AddrPort, s *scratch) bool {
	return in.takePacket(b, s, true) || in.t.cfg.RefusesSource(from)
}

// tryTake is take for a packet that may not be this client's at all (see muxRoutes): one that
// does not authenticate is always passed on, never dropped.
func (in *inbound) tryTake(b []byte, s *scratch) bool { return in.takePacket(b, s, false) }

func (in *inbound) takePacket(b []byte, s *scratch, dropForged bool) bool {
	if len(b) < 8 || b[0] < 128 || b[0] > 191 {
		return false // STUN, DTLS or TURN channel data (RFC 7983)
	}
	if b[1] >= 192 && b[1] <= 223 {
		return in.takeRTCP(b, s, dropForged)
	}
	return in.takeRTP(b, s, dropForged)
}

// takeRTP decrypts one RTP packet and hands it to the sink.
func (in *inbound) takeRTP(b []byte, s *scratch, dropForged bool) bool {
	in.mu.Lock()
	if in.ctx == nil {
		in.mu.Unlock()
		return false
	}
	plain, err := in.ctx.DecryptRTP(s.plain[:0], b, &s.hdr)
	in.mu.Unlock()
	if err != nil {
		return dropForged && in.verified.Load()
	}
	in.verified.Store(true)
	in.t.stats.decrypted.Add(1)
	if s.pkt.Unmarshal(plain) == nil {
		in.sink.HandleRTP(&s.pkt, len(plain))
	}
	return true
}

// takeRTCP decrypts one compound RTCP packet and hands it to the sink.
func (in *inbound) takeRTCP(b []byte, s *scratch, dropForged bool) bool {
	in.mu.Lock()
	if in.ctx == nil {
		in.mu.Unlock()
		return false
	}
	plain, err := in.ctx.DecryptRTCP(s.plain[:0], b, &s.rtcpHdr)
	in.mu.Unlock()
	if err != nil {
		return dropForged && in.verified.Load()
	}
	in.verified.Store(true)
	in.t.stats.decrypted.Add(1)
	in.sink.HandleRTCP(plain)
	return true
}
