package sfu

import (
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// upTrack is a track the client sends the server: it counts each packet and hands it to the
// partner's downTrack of the same kind. Packets arrive through the receiver (receiver.go):
// from the transport's fast path, on the goroutine that reads the socket, or from run, which
// reads a Pion TrackRemote.
// handle is safe for concurrent use, for the rare case of both at once: mu guards the loss
// counting, rx and nacks have locks of their own, the statistics are atomic.
type upTrack struct {
	peer *Peer
	kind int
	ssrc uint32

	mu      sync.Mutex
	started bool
	highest uint16 // newest sequence number seen, for loss counting

	rx    receptionStats // for the receiver reports the peer sends (reports.go)
	nacks nackGenerator  // video only: which packets to ask for again (nackgen.go)
	gop   gopCache       // video only: the latest group of pictures while unpaired (gopcache.go)
}

func newUpTrack(p *Peer, kind int, ssrc uint32) *upTrack {
	u := &upTrack{peer: p, kind: kind, ssrc: ssrc}
	u.rx.clockRate = int64(p.sfu.codec.capability(kind).ClockRate)
	return u
}

// start makes u the peer's current up track of its kind and, for video the partner waits
// for, asks for a keyframe at once.
func (u *upTrack) start() {
	u.peer.up[u.kind].Store(u)
	if u.kind == kindVideo && u.peer.partner.Load() != nil {
		u.peer.requestKeyframe(true)
	}
}

// run forwards the packets Pion's receive path delivers on track until the track ends (the
// PeerConnection closes or the transceiver stops), recording their transport-wide sequence
// numbers in rx. u is the peer's current up track of its kind while it runs.
func (u *upTrack) run(track *webrtc.TrackRemote, rx *receiver) {
	u.start()
	defer u.peer.up[u.kind].CompareAndSwap(u, nil)
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue
		}
		rx.deliver(u, &pkt, n, time.Now().UnixNano())
	}
}

// handle counts one received packet and forwards it to the current partner, if any.
func (u *upTrack) handle(pkt *rtp.Packet, size int, now int64) {
	u.countLoss(pkt.SequenceNumber)
	u.rx.packet(pkt.SequenceNumber, pkt.Timestamp, now)
	if u.kind == kindVideo && u.nacks.packet(pkt.SequenceNumber) {
		u.peer.requestNACK(now) // a gap opened: ask at once, as a browser does
	}
	u.peer.stats.packetsIn.Add(1)
	u.peer.stats.in.add(now, size)
	if partner := u.peer.partner.Load(); partner != nil {
		partner.down[u.kind].forward(u, pkt, now)
	} else if u.kind == kindVideo && u.peer.sfu.cfg.SwitchFromCache {
		u.gop.store(u, pkt, u.peer.sfu.codec.isKeyframe(pkt.Payload), now)
	}
}

// countLoss updates the peer's lost-packet count from sequence gaps: a gap adds its size, a
// late packet (reordered or retransmitted after a NACK) takes one back.
func (u *upTrack) countLoss(seq uint16) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.started {
		u.started, u.highest = true, seq
		return
	}
	switch diff := int16(seq - u.highest); {
	case diff > 0:
		if diff > 1 {
			u.peer.stats.lost.Add(int64(diff - 1))
		}
		u.highest = seq
	case diff < 0:
		u.peer.stats.lost.Add(-1)
	}
}
