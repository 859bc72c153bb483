package signaling

import (
	"encoding/json"
	"errors"
	"time"
)

// handler serves one client message type. It runs on the session's reader
// goroutine; a returned error goes back to the client as an `error` message.
type handler func(s *Session, data json.RawMessage) *wireError

// handlerTable maps every client message type of the contract to its handler.
func (h *Hub) handlerTable() map[string]handler {
	return map[string]handler{
		"find_partner":  h.onFindPartner,
		"next_partner":  h.onNextPartner,
		"leave":         h.onLeave,
		"chat_message":  h.onChatMessage,
		"typing":        h.onTyping,
		"webrtc_offer":  h.onOffer,
		"webrtc_answer": h.onAnswer,
		"ice_candidate": h.onCandidate,

		"report_partner": h.onReportPartner,
		"block_partner":  h.onBlockPartner,
		"accept_terms":   h.onAcceptTerms,
	}
}

// handle decodes one frame and runs its handler.
func (h *Hub) handle(s *Session, frame []byte) *wireError {
	env, werr := decodeEnvelope(frame)
	if werr != nil {
		return werr
	}
	fn, ok := h.handlers[env.Type]
	if !ok {
		return newWireError(CodeUnknownType, "unknown message type %q", env.Type)
	}
	return fn(s, env.Data)
}

func (h *Hub) onFindPartner(s *Session, data json.RawMessage) *wireError {
	var d findData
	if werr := decodeData("find_partner", data, &d); werr != nil {
		return werr
	}
	interests, werr := parseInterests(d.Interests)
	if werr != nil {
		return werr
	}
	if werr := h.mayMatch(s); werr != nil {
		return werr
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.draining {
		return errDraining
	}
	if s.peer.Failed() {
		return errMediaFailed
	}
	switch s.state {
	case paired:
		return errAlreadyPaired
	case waiting: // new interests: queue again with them
		h.dequeueLocked(s)
	}
	s.interests = interests
	h.enqueueLocked(s)
	return nil
}

func (h *Hub) onNextPartner(s *Session, _ json.RawMessage) *wireError {
	if werr := h.mayMatch(s); werr != nil {
		return werr
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.nextLocked(s, ReasonNext)
}

// requeueLocked queues s again after its pair ended (next, block, report),
// unless the server drains or its media failed. Called with Hub.mu held.
func (h *Hub) requeueLocked(s *Session) *wireError {
	if h.draining {
		return errDraining
	}
	if s.peer.Failed() {
		return errMediaFailed
	}
	if s.state == waiting {
		s.enqueue(encode("waiting_for_partner", waitingData{Online: len(h.sessions)}))
		return nil
	}
	h.enqueueLocked(s)
	return nil
}

func (h *Hub) onLeave(s *Session, _ json.RawMessage) *wireError {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.leaveLocked(s, ReasonLeave)
	return nil
}

func (h *Hub) onChatMessage(s *Session, data json.RawMessage) *wireError {
	var d chatInData
	if werr := decodeData("chat_message", data, &d); werr != nil {
		return werr
	}
	text, werr := parseChat(d)
	if werr != nil {
		return werr
	}
	if !s.chatLimit.Allow() {
		return errChatRate
	}
	if text, werr = h.applyLinkPolicy(text); werr != nil {
		return werr
	}
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.state != paired {
		return errNotInRoom
	}
	s.room.addChat(s.id, text, now)
	if s.room.remote != nil {
		h.tellRemote(s.room, s.id, remoteChat, remoteData{Text: text, SentAt: timestamp(now)})
		return nil
	}
	s.room.other(s).enqueue(encode("chat_message", chatOutData{Text: text, SentAt: timestamp(now)}))
	return nil
}

func (h *Hub) onTyping(s *Session, data json.RawMessage) *wireError {
	var d typingInData
	if werr := decodeData("typing", data, &d); werr != nil {
		return werr
	}
	if d.Active == nil {
		return errBadMessage("typing: data needs \"active\": true or false")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.state != paired {
		return errNotInRoom
	}
	if s.room.remote != nil {
		h.tellRemote(s.room, s.id, remoteTyping, remoteData{Active: *d.Active})
		return nil
	}
	s.room.other(s).queueTyping(*d.Active)
	return nil
}

func (h *Hub) onOffer(s *Session, data json.RawMessage) *wireError {
	sdp, werr := decodeSDP("webrtc_offer", data)
	if werr != nil {
		return werr
	}
	if !s.offerLimit.Allow() {
		return errOfferRate
	}
	first := !s.mediaSlot // this offer would create the session's PeerConnection
	if first {
		if !h.mediaSlots.acquire(s.ip) {
			return errMediaLimit
		}
		s.mediaSlot = true
	}
	answer, err := s.peer.HandleOffer(sdp)
	if err != nil {
		if first { // a first offer that fails leaves no PeerConnection behind
			h.mediaSlots.release(s.ip)
			s.mediaSlot = false
		}
		return mediaError("webrtc_offer", err)
	}
	s.enqueue(encode("webrtc_answer", sdpData{SDP: answer}))
	return nil
}

func (h *Hub) onAnswer(s *Session, data json.RawMessage) *wireError {
	sdp, werr := decodeSDP("webrtc_answer", data)
	if werr != nil {
		return werr
	}
	if err := s.peer.HandleAnswer(sdp); err != nil {
		return mediaError("webrtc_answer", err)
	}
	return nil
}

func (h *Hub) onCandidate(s *Session, data json.RawMessage) *wireError {
	var c Candidate
	if werr := decodeData("ice_candidate", data, &c); werr != nil {
		return werr
	}
	if err := s.peer.AddCandidate(c); err != nil {
		return mediaError("ice_candidate", err)
	}
	return nil
}

// sendCandidate forwards one of the server's ICE candidates to the client.
func (s *Session) sendCandidate(c Candidate) {
	s.enqueue(encode("ice_candidate", c))
}

func decodeSDP(typ string, data json.RawMessage) (string, *wireError) {
	var d struct {
		SDP *string `json:"sdp"`
	}
	if werr := decodeData(typ, data, &d); werr != nil {
		return "", werr
	}
	if d.SDP == nil || *d.SDP == "" {
		return "", newWireError(CodeBadSDP, "%s: data needs a non-empty \"sdp\" string", typ)
	}
	return *d.SDP, nil
}

// mediaError maps an error from the media peer to what the client is told.
func mediaError(typ string, err error) *wireError {
	if errors.Is(err, ErrBadSDP) {
		return newWireError(CodeBadSDP, "%s: %v", typ, err)
	}
	if errors.Is(err, ErrNoMediaPort) {
		return newWireError(CodeMediaUnavailable,
			"the server has no free media port right now; try again in a minute (%v)", err)
	}
	return newWireError(CodeMediaError, "%s: %v", typ, err)
}
