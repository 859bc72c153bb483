package sfu

import (
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// upTrack is a track the client sends the server. Its goroutine (run) reads every packet,
// counts it, and hands it to the partner's downTrack of the same kind. Only that goroutine
// touches the fields below ssrc.
type upTrack struct {
	peer  *Peer
	kind  int
	track *webrtc.TrackRemote
	ssrc  uint32

	started bool
	highest uint16 // newest sequence number seen, for loss counting

	rx    receptionStats // for the receiver reports the peer sends (reports.go)
	nacks nackGenerator  // video only: which packets to ask for again (nackgen.go)
}

func newUpTrack(p *Peer, kind int, track *webrtc.TrackRemote) *upTrack {
	u := &upTrack{peer: p, kind: kind, track: track, ssrc: uint32(track.SSRC())}
	u.rx.clockRate = int64(track.Codec().ClockRate)
	return u
}

// run forwards packets until the track ends (the PeerConnection closes or the transceiver
// stops). It becomes the peer's current up track of its kind while it runs.
func (u *upTrack) run() {
	u.peer.up[u.kind].Store(u)
	defer u.peer.up[u.kind].CompareAndSwap(u, nil)
	if u.kind == kindVideo && u.peer.partner.Load() != nil {
		// The partner is waiting for this video: ask for a keyframe at once.
		u.peer.requestKeyframe(true)
	}
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := u.track.Read(buf)
		if err != nil {
			return
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue
		}
		u.handle(&pkt, n, time.Now().UnixNano())
	}
}

// handle counts one received packet and forwards it to the current partner, if any.
func (u *upTrack) handle(pkt *rtp.Packet, size int, now int64) {
	u.countLoss(pkt.SequenceNumber)
	u.rx.packet(pkt.SequenceNumber, pkt.Timestamp, now)
	if u.kind == kindVideo {
		u.nacks.packet(pkt.SequenceNumber)
	}
	u.peer.stats.packetsIn.Add(1)
	u.peer.stats.in.add(now, size)
	if partner := u.peer.partner.Load(); partner != nil {
		partner.down[u.kind].forward(u, pkt, now)
	}
}

// countLoss updates the peer's lost-packet count from sequence gaps: a gap adds its size, a
// late packet (reordered or retransmitted after a NACK) takes one back.
func (u *upTrack) countLoss(seq uint16) {
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
