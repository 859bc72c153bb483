package signaling

import "fmt"

// Error codes sent in `error` messages. The first seven are the contract's;
// the rest are tandem's own, listed in docs/protocol.md.
const (
	CodeBadMessage    = "bad_message"
	CodeUnknownType   = "unknown_type"
	CodeTooLarge      = "too_large"
	CodeRateLimited   = "rate_limited"
	CodeNotInRoom     = "not_in_room"
	CodeBadSDP        = "bad_sdp"
	CodeDraining      = "draining"
	CodeAlreadyPaired = "already_paired"
	CodeMediaFailed   = "media_failed"
	CodeMediaError    = "media_error"
	// CodeMediaLimit refuses a first offer while the client's IP holds Options.MediaPerIP
	// PeerConnections.
	CodeMediaLimit = "media_limit"
	// CodeMediaUnavailable refuses a first offer when the server has no media port left.
	CodeMediaUnavailable = "media_unavailable"
)

// wireError is a refusal sent to the client as an `error` message; the
// connection stays open.
type wireError struct {
	Code    string
	Message string
}

func (e *wireError) Error() string { return e.Code + ": " + e.Message }

func newWireError(code, format string, args ...any) *wireError {
	return &wireError{Code: code, Message: fmt.Sprintf(format, args...)}
}

func errBadMessage(format string, args ...any) *wireError {
	return newWireError(CodeBadMessage, format, args...)
}

var (
	errNotInRoom = newWireError(CodeNotInRoom,
		"you have no partner right now; send find_partner and wait for partner_found")
	errDraining = newWireError(CodeDraining,
		"the server is shutting down and takes no new matches; reconnect in a moment")
	errAlreadyPaired = newWireError(CodeAlreadyPaired,
		"you already have a partner; send next_partner to meet someone else")
	errChatRate = newWireError(CodeRateLimited,
		"too many chat messages; wait a few seconds before sending more")
	errFlood = newWireError(CodeRateLimited,
		"too many messages; slow down or the server will disconnect you")
	errMediaFailed = newWireError(CodeMediaFailed,
		"your media connection failed; reconnect (a new WebSocket and PeerConnection) to start a new call")
	errMediaLimit = newWireError(CodeMediaLimit,
		"too many video connections from your network at once; close another tab or try again later")
	errOfferRate = newWireError(CodeRateLimited,
		"too many webrtc_offer messages; one offer per PeerConnection (and an ICE restart now and then) is all a call needs")
)
