package signaling

import (
	"time"

	"github.com/google/uuid"
)

// newRoomID returns a new room id (unique across the instances of a cluster).
func newRoomID() string { return uuid.NewString() }

// This file holds the hub's matchmaking transitions. Every function here
// must be called with Hub.mu held; none blocks (sends are queued, and
// Media.Pair and Media.Unpair do no I/O), so the order of pairs and partings
// seen by the media side is the order they happened in.

// enqueueLocked puts s in the queue, or pairs it at once: the shared queue
// in cluster mode (cluster.go), else (or while it is unreachable) the
// local Matchmaker.
func (h *Hub) enqueueLocked(s *Session) {
	s.state = waiting
	s.waitGen++
	s.lowTrust = false
	if mod := h.opts.Moderation; mod != nil {
		s.lowTrust = mod.LowTrust(s.ip, s.identity)
	}
	s.sharedRetries = 0
	open := h.opts.InterestWait <= 0 || len(s.interests) == 0
	h.queuedAt[s.id] = time.Now()
	// In the shared queue, its answer pairs s or tells it to wait (addedLocked).
	if !h.sharedActiveLocked() || !h.queueSharedLocked(s, open, true) {
		h.queueLocalLocked(s, open)
		if s.state != waiting {
			return // paired at once
		}
		s.enqueue(encode("waiting_for_partner", waitingData{Online: len(h.sessions)}))
	}
	if !open {
		gen := s.waitGen
		s.openTimer = time.AfterFunc(h.opts.InterestWait, func() { h.openWaiting(s, gen) })
	}
}

// queueLocalLocked puts s (waiting, in no queue) in the local Matchmaker,
// or pairs it at once.
func (h *Hub) queueLocalLocked(s *Session, open bool) {
	h.match.SetLowTrust(s.id, s.lowTrust)
	if m, ok := h.match.Add(s.id, s.interests, s.parted, open); ok {
		h.pairLocked(m)
	}
}

// openWaiting lets s, still waiting since enqueue number gen, take anyone.
func (h *Hub) openWaiting(s *Session, gen uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.state != waiting || s.waitGen != gen {
		return
	}
	s.openTimer = nil
	if s.sharedQueued {
		h.openSharedLocked(s)
		return
	}
	if s.sharedPending {
		return // the Add's answer opens s (addedLocked)
	}
	if m, ok := h.match.Open(s.id); ok {
		h.pairLocked(m)
	}
}

// dequeueLocked takes a waiting s out of the queue.
func (h *Hub) dequeueLocked(s *Session) {
	if s.sharedQueued || s.sharedPending { // a pending Add's answer is then stale
		s.sharedQueued, s.sharedPending = false, false
		h.removeSharedLocked(s.id)
	}
	h.match.Remove(s.id)
	delete(h.queuedAt, s.id)
	if s.openTimer != nil {
		s.openTimer.Stop()
		s.openTimer = nil
	}
	s.state = idle
}

// pairLocked turns a Match into a room: both users get partner_found and
// media starts flowing between them.
func (h *Hub) pairLocked(m Match) {
	a, b := h.sessions[m.A], h.sessions[m.B]
	now := time.Now()
	if h.opts.Observer != nil {
		h.opts.Observer.Matched(h.waitedLocked(a.id, now), h.waitedLocked(b.id, now))
	}
	for _, s := range []*Session{a, b} {
		if s.state == waiting {
			h.dequeueLocked(s)
		}
	}
	room := &Room{ID: newRoomID(), CreatedAt: now.UTC(), a: a, b: b}
	h.rooms[room.ID] = room
	h.matches++
	a.state, a.room, a.videoPaused = paired, room, false
	b.state, b.room, b.videoPaused = paired, room, false
	h.media.Pair(a.peer, b.peer)
	if mod := h.opts.Moderation; mod != nil {
		mod.CallMade(a.ip, a.identity)
		mod.CallMade(b.ip, b.identity)
	}
	a.enqueue(encode("partner_found", partnerFoundData{RoomID: room.ID, CommonInterests: m.Common}))
	b.enqueue(encode("partner_found", partnerFoundData{RoomID: room.ID, CommonInterests: m.Common}))
	h.log.Info("paired", "room", room.ID, "userA", a.id, "userB", b.id, "common", len(m.Common))
}

// waitedLocked is how long id has been in the queue (0 if it is not).
func (h *Hub) waitedLocked(id string, now time.Time) time.Duration {
	if t, ok := h.queuedAt[id]; ok {
		return now.Sub(t)
	}
	return 0
}

// endRoomLocked ends room: media stops at once, both users are idle again.
// If by is one of them, only the other is told (with reason); if by is nil
// the server ended it and both are told.
func (h *Hub) endRoomLocked(room *Room, by *Session, reason string) {
	if room.remote == nil {
		h.media.Unpair(room.a.peer, room.b.peer)
	}
	h.closeRoomLocked(room, by, reason)
}

// nextLocked ends s's pair, if it has one (the partner is told reason), and
// queues s again. When s is paired at once, the media side switches s from
// the old partner to the new one in the one Pair call; otherwise the old
// pair's media is stopped here.
func (h *Hub) nextLocked(s *Session, reason string) *wireError {
	if s.state != paired {
		return h.requeueLocked(s)
	}
	old := s.room.other(s) // nil when the partner is on another instance
	h.closeRoomLocked(s.room, s, reason)
	werr := h.requeueLocked(s)
	if old != nil && (s.state != paired || s.room.remote != nil) {
		h.media.Unpair(s.peer, old.peer)
	}
	return werr
}

// closeRoomLocked is endRoomLocked but for the media, which the caller
// unpairs (or pairs anew).
func (h *Hub) closeRoomLocked(room *Room, by *Session, reason string) {
	if room.remote != nil {
		h.tellRemote(room, room.a.id, remoteLeft, remoteData{Reason: reason})
		h.closeRemoteRoomLocked(room, reason, room.a != by)
		return
	}
	delete(h.rooms, room.ID)
	a, b := room.a, room.b
	a.state, a.room, a.parted = idle, nil, b.id
	b.state, b.room, b.parted = idle, nil, a.id
	msg := encode("partner_left", partnerLeftData{Reason: reason})
	for _, s := range []*Session{a, b} {
		if s != by {
			s.enqueue(msg)
		}
	}
	h.log.Info("room ended", "room", room.ID, "reason", reason)
}

// leaveLocked takes s out of whatever it is in: the queue, or its room
// (its partner is told reason). s ends idle.
func (h *Hub) leaveLocked(s *Session, reason string) {
	switch s.state {
	case waiting:
		h.dequeueLocked(s)
	case paired:
		h.endRoomLocked(s.room, s, reason)
	}
}
