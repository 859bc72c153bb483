package sfu

import "errors"

// ErrBadSDP is wrapped by every error returned for an offer or answer the SFU cannot accept:
// unparsable SDP, or media sections without the configured codecs. Callers map it to the
// protocol's bad_sdp error code with errors.Is.
var ErrBadSDP = errors.New("bad sdp")

// ErrClosed is returned by Peer methods called after Close.
var ErrClosed = errors.New("peer closed")

// ErrNoMediaPort is wrapped by the error of a first offer for which the server could not open
// a single media socket (every port of the UDP range in use): an answer would carry no
// candidates and the call could never connect.
var ErrNoMediaPort = errors.New("no free media port")

// ErrNoOffer is returned by HandleAnswer before any offer created the PeerConnection.
var ErrNoOffer = errors.New("no offer yet")
