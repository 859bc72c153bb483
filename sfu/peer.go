package sfu

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/tandemchat/tandem/sfu/transport"
)

// maxPendingCandidates bounds the ICE candidates queued before the first offer.
const maxPendingCandidates = 64

// PeerEvents are the callbacks a Peer makes toward its owner (the signaling session). They are
// called from the Peer's own goroutines, never while the Peer holds a lock, so they may call
// back into the Peer (Close included).
type PeerEvents struct {
	// OnICECandidate delivers a server-side trickle ICE candidate (not the nil "end" one).
	OnICECandidate func(c webrtc.ICECandidateInit)
	// OnOffer asks the client to answer a server offer with HandleAnswer. The SFU answers
	// every client offer with both of its tracks attached, so it never needs to renegotiate
	// today; the hook exists so the contract can use it.
	OnOffer func(sdp string)
	// OnFailed reports an ICE/DTLS failure, a disconnection longer than
	// Config.DisconnectTimeout, or a PeerConnection closed by the remote. At most once.
	OnFailed func(err error)
	// OnVideoPaused reports that the server paused (true) or resumed (false) the video it
	// sends the client, because the client's downlink estimate fell under Config.VideoFloor or
	// recovered (bitrate.go). A new partner starts resumed without a call. Called on a
	// goroutine of its own.
	OnVideoPaused func(paused bool)
}

// Peer is one client's media endpoint: at most one PeerConnection (created by the first offer),
// the client's up tracks, and the audio and video downTracks the server sends it. All methods
// are safe for concurrent use. A Peer is cheap until its first offer.
type Peer struct {
	sfu  *SFU
	id   string
	ev   PeerEvents
	down [numKinds]*downTrack

	// partner is the peer whose media this peer receives (and to which its own goes).
	// Written only under sfu.pairMu; read lock-free by the forwarding path.
	partner atomic.Pointer[Peer]
	// up holds the client's current up track per kind (nil until its first RTP packet).
	up [numKinds]atomic.Pointer[upTrack]
	// conn is the PeerConnection's transport (sfu/transport), nil without a PC; set with pc
	// under mu, read lock-free by the forwarding path.
	conn atomic.Pointer[transport.Conn]

	keyframeReq chan struct{} // capacity 1: ask the control goroutine for a PLI
	capReq      chan struct{} // capacity 1: ask the control goroutine to send the bitrate cap
	nackReq     chan struct{} // capacity 1: ask the control goroutine for NACKs now
	lastNACK    atomic.Int64  // unix nanos of the last immediate NACK asked for
	downlink    downlink      // the client's downlink estimate; video paused under the floor
	// remoteCap is a bridged peer's (bridged.go): the cap its instance sent for the local
	// partner's sender, used instead of downlink's. Nil for a client's peer; set before the
	// peer is shared.
	remoteCap   *remoteCap
	stateChange chan struct{} // capacity 1: connState changed
	connState   atomic.Int32  // latest webrtc.PeerConnectionState
	lastPLI     atomic.Int64  // unix nanos of the last PLI we asked for
	pliSentAt   atomic.Int64  // unix nanos the last PLI was written (a switch's timeline)
	failing     atomic.Bool   // set once OnFailed has been scheduled; cleared on (re)connect
	// current is the PeerConnection whose callbacks count: a discarded one's late state
	// changes, candidates and tracks are ignored.
	current atomic.Pointer[webrtc.PeerConnection]

	stats peerStats

	mu sync.Mutex // guards the fields below and wg.Add
	pc *webrtc.PeerConnection
	rx *receiver // where pc's received media arrives
	// remoteSet is set once the first offer was applied; until then candidates are queued.
	remoteSet bool
	pending   []webrtc.ICECandidateInit
	closed    bool
	done      chan struct{} // closed by Close once a PC exists; ends the Peer's goroutines
	wg        sync.WaitGroup
}

// NewPeer creates a Peer without a PeerConnection; the first HandleOffer creates it. It starts
// no goroutine. ev's nil callbacks are skipped.
func (s *SFU) NewPeer(id string, ev PeerEvents) *Peer {
	p := &Peer{
		sfu:         s,
		id:          id,
		ev:          ev,
		keyframeReq: make(chan struct{}, 1),
		capReq:      make(chan struct{}, 1),
		nackReq:     make(chan struct{}, 1),
		stateChange: make(chan struct{}, 1),
	}
	p.down[kindAudio] = newDownTrack(p, kindAudio, s.codec.capability(kindAudio))
	p.down[kindVideo] = newDownTrack(p, kindVideo, s.codec.capability(kindVideo))
	return p
}

// ID returns the id given to NewPeer.
func (p *Peer) ID() string { return p.id }

// HandleAnswer applies the client's answer to a server offer (see PeerEvents.OnOffer).
func (p *Peer) HandleAnswer(sdp string) error {
	p.mu.Lock()
	pc, closed := p.pc, p.closed
	p.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case pc == nil:
		return fmt.Errorf("handle answer: %w", ErrNoOffer)
	}
	answer := webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}
	if err := pc.SetRemoteDescription(answer); err != nil {
		return fmt.Errorf("set remote answer: %w: %w", ErrBadSDP, err)
	}
	return nil
}

// AddICECandidate adds a client's trickled candidate. An empty candidate string marks the end of
// candidates. Until the first offer is applied, candidates are queued (up to 64) and applied
// after it. A candidate naming an address in a refused range (private, loopback, link-local,
// ... unless the range holds one of the server's media addresses) is ignored and counted in
// Stats.CandidatesRefused: the server never sends ICE checks into such a network.
func (p *Peer) AddICECandidate(c webrtc.ICECandidateInit) error {
	if !p.sfu.remotes.allowsCandidate(c.Candidate) {
		p.sfu.counters.candidatesRefused.Add(1)
		p.sfu.log.Debug("ice candidate in a refused range ignored", "peer", p.id, "candidate", c.Candidate)
		return nil
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	pc := p.pc
	if !p.remoteSet {
		defer p.mu.Unlock()
		if len(p.pending) >= maxPendingCandidates {
			return fmt.Errorf("add ice candidate: more than %d candidates before the first offer", maxPendingCandidates)
		}
		p.pending = append(p.pending, c)
		return nil
	}
	p.mu.Unlock()
	if err := pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("add ice candidate: %w", err)
	}
	return nil
}

// Close unpairs the peer, closes its PeerConnection and waits for every goroutine it started,
// except the one running OnFailed (which ends when the callback returns, so OnFailed may call
// Close). Idempotent; later calls return nil.
func (p *Peer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	pc, done := p.pc, p.done
	p.current.Store(nil)
	p.mu.Unlock()

	if partner := p.partner.Load(); partner != nil {
		Unpair(p, partner)
	}
	if pc == nil {
		return nil
	}
	close(done)
	err := pc.GracefulClose()
	if conn := p.conn.Load(); conn != nil {
		conn.Close()
	}
	p.wg.Wait()
	p.sfu.counters.peers.Add(-1)
	if err != nil {
		return fmt.Errorf("close peer connection: %w", err)
	}
	return nil
}

// isClosed reports whether Close was called.
func (p *Peer) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// goroutine starts f as a goroutine owned by the Peer (Close waits for it), unless the Peer is
// closed. It reports whether f was started.
func (p *Peer) goroutine(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// PeerStats is a snapshot of one peer's media statistics.
type PeerStats struct {
	InboundBitrateBps  int64 // received from this peer (audio+video), last ~2-3 s
	OutboundBitrateBps int64 // sent to this peer, last ~2-3 s
	PacketsIn          uint64
	PacketsOut         uint64
	// PacketsLost counts packets from this peer that never arrived (sequence gaps not filled
	// later by a late packet or a retransmission).
	PacketsLost uint64
	// JitterMs and RTTMs come from the receiver reports this peer sends about the server's
	// streams (the server-to-client leg); 0 until the first report.
	JitterMs float64
	RTTMs    float64
}

// peerStats are the atomics behind PeerStats.
type peerStats struct {
	in, out               rateMeter
	packetsIn, packetsOut atomic.Uint64
	lost                  atomic.Int64
	jitterBits, rttBits   atomic.Uint64 // math.Float64bits
}

// Stats returns a snapshot of the peer's statistics. Safe for concurrent use.
func (p *Peer) Stats() PeerStats {
	now := time.Now().UnixNano()
	return PeerStats{
		InboundBitrateBps:  p.stats.in.bitrate(now),
		OutboundBitrateBps: p.stats.out.bitrate(now),
		PacketsIn:          p.stats.packetsIn.Load(),
		PacketsOut:         p.stats.packetsOut.Load(),
		PacketsLost:        uint64(max(0, p.stats.lost.Load())),
		JitterMs:           math.Float64frombits(p.stats.jitterBits.Load()),
		RTTMs:              math.Float64frombits(p.stats.rttBits.Load()),
	}
}

// Failed reports whether the peer's current PeerConnection has failed (OnFailed was called
// or is about to be) and has not connected again since. A peer without a PeerConnection has
// not failed. Safe for concurrent use.
func (p *Peer) Failed() bool { return p.failing.Load() }

// fail reports err through OnFailed, unless the peer is closed. See failAsync.
func (p *Peer) fail(err error) {
	if p.isClosed() {
		return
	}
	p.sfu.log.Info("peer media failed", "peer", p.id, "err", err)
	if p.ev.OnFailed != nil {
		p.ev.OnFailed(err)
	}
}

var errRemoteClosed = errors.New("peer connection closed by the remote")
