package server

import (
	"errors"

	"github.com/pion/webrtc/v4"

	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/signaling"
)

// sfuMedia is the SFU as signaling's Media: it turns signaling's candidate,
// event and error types into the SFU's and back. It holds no state.
type sfuMedia struct{ sfu *sfu.SFU }

// sfuPeer is an SFU peer as signaling's MediaPeer.
type sfuPeer struct{ *sfu.Peer }

func (m sfuMedia) NewPeer(userID string, ev signaling.MediaEvents) signaling.MediaPeer {
	return sfuPeer{m.sfu.NewPeer(userID, sfu.PeerEvents{
		OnICECandidate: func(c webrtc.ICECandidateInit) {
			if ev.OnCandidate != nil {
				ev.OnCandidate(signaling.Candidate{Candidate: c.Candidate, SDPMid: c.SDPMid,
					SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment})
			}
		},
		OnOffer:       ev.OnOffer,
		OnFailed:      ev.OnFailed,
		OnVideoPaused: ev.OnVideoPaused,
	})}
}

// Pair and Unpair hand the SFU the peers signaling got from NewPeer.
func (m sfuMedia) Pair(a, b signaling.MediaPeer)   { sfu.Pair(peerOf(a), peerOf(b)) }
func (m sfuMedia) Unpair(a, b signaling.MediaPeer) { sfu.Unpair(peerOf(a), peerOf(b)) }

func peerOf(p signaling.MediaPeer) *sfu.Peer {
	if sp, ok := p.(sfuPeer); ok {
		return sp.Peer
	}
	return nil // not one of ours: sfu.Pair and Unpair ignore nil
}

func (p sfuPeer) HandleOffer(sdp string) (string, error) {
	answer, err := p.Peer.HandleOffer(sdp)
	return answer, mediaError(err)
}

func (p sfuPeer) HandleAnswer(sdp string) error { return mediaError(p.Peer.HandleAnswer(sdp)) }

func (p sfuPeer) AddCandidate(c signaling.Candidate) error {
	return mediaError(p.Peer.AddICECandidate(webrtc.ICECandidateInit{Candidate: c.Candidate,
		SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}))
}

func (p sfuPeer) Stats() signaling.MediaStats {
	st := p.Peer.Stats()
	return signaling.MediaStats{InboundBitrateBps: st.InboundBitrateBps, OutboundBitrateBps: st.OutboundBitrateBps,
		PacketsIn: st.PacketsIn, PacketsOut: st.PacketsOut, PacketsLost: st.PacketsLost,
		JitterMs: st.JitterMs, RTTMs: st.RTTMs}
}

// mediaError marks the SFU's errors with signaling's, which map to wire codes;
// the message stays the SFU's.
func mediaError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sfu.ErrBadSDP):
		return marked{signaling.ErrBadSDP, err}
	case errors.Is(err, sfu.ErrNoMediaPort):
		return marked{signaling.ErrNoMediaPort, err}
	}
	return err
}

// marked is err that also matches mark (errors.Is).
type marked struct{ mark, err error }

func (m marked) Error() string   { return m.err.Error() }
func (m marked) Unwrap() []error { return []error{m.mark, m.err} }
