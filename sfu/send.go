package sfu

import (
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// The one place where the server's packets choose their way: the transport's fast send path
// (sfu/transport: encrypted with the SFU's own SRTP context and written to ICE's selected
// socket) takes every packet once it has the keys; until then, or for good if it never gets
// them, they go through Pion's. Both RTP and RTCP must choose alike, so that two SRTP
// contexts never encrypt the same stream.

// sendRTP writes one RTP packet of a down track to the client; w is the track's Pion stream.
// Zero allocations on the fast path.
func (p *Peer) sendRTP(w webrtc.TrackLocalWriter, h *rtp.Header, payload []byte) error {
	if conn := p.conn.Load(); conn != nil {
		if taken, err := conn.WriteRTP(h, payload); taken {
			return err
		}
	}
	_, err := w.WriteRTP(h, payload)
	return err
}

// writeRTCP sends one compound RTCP packet to the client through pc, the peer's
// PeerConnection.
func (p *Peer) writeRTCP(pc *webrtc.PeerConnection, pkts []rtcp.Packet) error {
	if conn := p.conn.Load(); conn != nil {
		if taken, err := conn.WriteRTCP(pkts); taken {
			return err
		}
	}
	return pc.WriteRTCP(pkts)
}
