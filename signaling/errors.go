package signaling

import (
	"fmt"
	"time"
)

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
	// CodeBanned refuses a banned client (with until and reason); the connection is then
	// closed with status 1008.
	CodeBanned = "banned"
	// CodeSlowDown refuses find_partner or next_partner past signaling.next_per_minute
	// (with retryAfter).
	CodeSlowDown = "slow_down"
	// CodeTermsRequired refuses find_partner and next_partner before accept_terms when the
	// operator configured terms.
	CodeTermsRequired = "terms_required"
	// CodeLinkRefused refuses a chat message with a link when signaling.chat_links is refuse.
	CodeLinkRefused = "link_refused"
	// CodeReportFailed means a report could not be stored (or this server takes none).
	CodeReportFailed = "report_failed"
)

// wireError is a refusal sent to the client as an `error` message; the
// connection stays open.
type wireError struct {
	Code    string
	Message string
	// Extra fields of some codes (zero values are left out of the message).
	Until      string // banned: RFC 3339 end of the ban
	Reason     string // banned: the ban's category
	RetryAfter int    // slow_down: seconds to wait
}

func (e *wireError) Error() string { return e.Code + ": " + e.Message }

// data is the `error` message's data for e.
func (e *wireError) data() errorData {
	return errorData{Code: e.Code, Message: e.Message, Until: e.Until, Reason: e.Reason, RetryAfter: e.RetryAfter}
}

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
	errTermsRequired = newWireError(CodeTermsRequired,
		"accept the terms of this server (send accept_terms) before looking for a partner")
	errLinkRefused = newWireError(CodeLinkRefused,
		"links are not allowed in chat on this server; send the message without it")
	errReportFailed = newWireError(CodeReportFailed,
		"your report could not be stored; the pair has ended, please try again later or contact the operator")
	errReportsOff = newWireError(CodeReportFailed,
		"this server does not take reports; use block_partner to stop meeting this person")
)

// errBanned is the refusal of a client kept out by ban.
func errBanned(until time.Time, reason string) *wireError {
	e := newWireError(CodeBanned, "you are banned from this server until %s", until.UTC().Format(time.RFC3339))
	e.Until, e.Reason = until.UTC().Format(time.RFC3339), reason
	return e
}

// errSlowDown refuses a find or next that came too soon; the client may retry after wait.
func errSlowDown(wait time.Duration) *wireError {
	secs := int((wait + time.Second - 1) / time.Second)
	e := newWireError(CodeSlowDown, "you are looking for partners faster than a person would; wait %d seconds", secs)
	e.RetryAfter = secs
	return e
}
