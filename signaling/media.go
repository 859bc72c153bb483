package signaling

import "errors"

// This file is the seam between signaling and the media side: what the hub
// needs of it, in types of its own. The server implements it over the SFU
// (server/media.go); tests may implement it without one.

// Media creates the sessions' media endpoints and pairs them. Its methods
// are called with the hub's mutex held: they must not block on I/O (the
// SFU's pairing is pointer swaps), so the media side sees pairings in the
// order the hub made them.
type Media interface {
	// NewPeer returns the media endpoint of a new session; it should be cheap
	// until the session's first offer. ev reports what the endpoint does.
	NewPeer(userID string, ev MediaEvents) MediaPeer
	// Pair makes a and b partners: each receives the other's media, starting
	// with a keyframe. A peer that had another partner is parted from it in
	// the same step, so Next with a partner at once is one call.
	Pair(a, b MediaPeer)
	// Unpair stops the media between a and b if they are partners.
	Unpair(a, b MediaPeer)
}

// MediaPeer is one session's media endpoint. Safe for concurrent use.
type MediaPeer interface {
	// HandleOffer applies the client's offer and returns the answer. Errors
	// wrap ErrBadSDP for an offer that cannot be used, ErrNoMediaPort when
	// the server has no media port left.
	HandleOffer(sdp string) (answer string, err error)
	// HandleAnswer applies the client's answer to a server offer.
	HandleAnswer(sdp string) error
	// AddCandidate adds one of the client's trickled ICE candidates.
	AddCandidate(c Candidate) error
	// Failed reports whether the media failed and has not connected since.
	Failed() bool
	// VideoPaused reports whether the video the client receives is paused
	// because its downlink is too weak (see MediaEvents.OnVideoPaused).
	VideoPaused() bool
	// Stats reads the endpoint's media figures.
	Stats() MediaStats
	// Close ends the endpoint and everything it holds.
	Close() error
}

// MediaEvents is what a media endpoint reports to its session. The
// functions may be called from any goroutine and must not block.
type MediaEvents struct {
	// OnCandidate delivers one of the server's ICE candidates for the client.
	OnCandidate func(Candidate)
	// OnOffer asks the client to answer a server offer.
	OnOffer func(sdp string)
	// OnFailed reports that the media failed (ICE or DTLS failure, a long
	// disconnection, the client closed it); again only after it recovered.
	OnFailed func(err error)
	// OnVideoPaused reports that the video the client receives was paused
	// (its downlink estimate fell under the floor; audio goes on) or resumed.
	// A new partner starts with video on, without a report.
	OnVideoPaused func(paused bool)
}

// Candidate is an ICE candidate as the wire carries it (ice_candidate's
// data, and the browser's RTCIceCandidateInit).
type Candidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// MediaStats are one endpoint's media figures for the room statistics.
type MediaStats struct {
	InboundBitrateBps  int64 // received from the client, last few seconds
	OutboundBitrateBps int64 // sent to the client, last few seconds
	PacketsIn          uint64
	PacketsOut         uint64
	PacketsLost        uint64 // from the client, never arrived
	JitterMs, RTTMs    float64
}

// Errors a MediaPeer's methods wrap, mapped to wire codes in mediaError.
var (
	ErrBadSDP      = errors.New("bad sdp")
	ErrNoMediaPort = errors.New("no free media port")
)
