package signaling

import (
	"sort"

	"github.com/gorilla/websocket"
)

// This file holds what operators and the server's lifecycle do to the hub:
// read its state, end rooms, disconnect users, drain and close.

// Stats returns the hub's current counts.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{
		ConnectedUsers: len(h.sessions),
		WaitingUsers:   h.match.Len(),
		ActiveRooms:    len(h.rooms),
		TotalMatches:   h.matches,
		RefusedBanned:  h.banned,
		Draining:       h.draining,
		Cluster:        h.clusterStateLocked(),
	}
}

// clusterStateLocked is Stats.Cluster.
func (h *Hub) clusterStateLocked() string {
	switch {
	case h.shared == nil:
		return ""
	case h.shared.down:
		return ClusterLocalOnly
	default:
		return ClusterShared
	}
}

// roomSnapshot is what is copied out under the lock to describe a room.
type roomSnapshot struct {
	room      *Room
	ids       [2]string
	instances [2]string // cluster mode only
	peers     [2]MediaPeer
}

// Rooms describes every active room, oldest first, with media figures.
func (h *Hub) Rooms() []RoomInfo {
	h.mu.Lock()
	snaps := make([]roomSnapshot, 0, len(h.rooms))
	for _, r := range h.rooms {
		snaps = append(snaps, h.snapshotLocked(r))
	}
	h.mu.Unlock()
	sort.Slice(snaps, func(i, j int) bool {
		if !snaps[i].room.CreatedAt.Equal(snaps[j].room.CreatedAt) {
			return snaps[i].room.CreatedAt.Before(snaps[j].room.CreatedAt)
		}
		return snaps[i].room.ID < snaps[j].room.ID
	})
	out := make([]RoomInfo, len(snaps))
	for i, s := range snaps {
		out[i] = s.info()
	}
	return out
}

// Room describes one room; false if there is no room with that id.
func (h *Hub) Room(id string) (RoomInfo, bool) {
	h.mu.Lock()
	r, ok := h.rooms[id]
	var snap roomSnapshot
	if ok {
		snap = h.snapshotLocked(r)
	}
	h.mu.Unlock()
	if !ok {
		return RoomInfo{}, false
	}
	return snap.info(), true
}

// snapshotLocked copies what describes r. Called with Hub.mu held.
func (h *Hub) snapshotLocked(r *Room) roomSnapshot {
	var self string
	if h.shared != nil {
		self = h.shared.opts.Instance
	}
	if r.remote != nil { // the partner's figures are its instance's
		return roomSnapshot{room: r, ids: [2]string{r.a.id, r.remote.id},
			instances: [2]string{self, r.remote.instance}, peers: [2]MediaPeer{r.a.peer, nil}}
	}
	return roomSnapshot{room: r, ids: [2]string{r.a.id, r.b.id},
		instances: [2]string{self, self}, peers: [2]MediaPeer{r.a.peer, r.b.peer}}
}

// info reads the peers' media statistics (outside the hub's lock).
func (s roomSnapshot) info() RoomInfo {
	ri := RoomInfo{ID: s.room.ID, CreatedAt: s.room.CreatedAt, Participants: make([]ParticipantInfo, 2)}
	for i, p := range s.peers {
		if p == nil {
			ri.Participants[i] = ParticipantInfo{UserID: s.ids[i], Instance: s.instances[i]}
			continue
		}
		st := p.Stats()
		ri.Participants[i] = ParticipantInfo{
			UserID:             s.ids[i],
			Instance:           s.instances[i],
			InboundBitrateBps:  st.InboundBitrateBps,
			OutboundBitrateBps: st.OutboundBitrateBps,
			PacketsIn:          st.PacketsIn,
			PacketsOut:         st.PacketsOut,
			PacketsLost:        st.PacketsLost,
			JitterMs:           st.JitterMs,
			RTTMs:              st.RTTMs,
		}
		ri.BitrateBps += st.OutboundBitrateBps
	}
	return ri
}

// EndRoom ends room id; both users get partner_left "ended". It reports
// whether the room existed.
func (h *Hub) EndRoom(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.rooms[id]
	if ok {
		h.endRoomLocked(r, nil, ReasonEnded)
	}
	return ok
}

// Disconnect closes user id's connection (its partner gets partner_left
// "disconnect"). It reports whether the user was connected.
func (h *Hub) Disconnect(userID string) bool {
	h.mu.Lock()
	s, ok := h.sessions[userID]
	h.mu.Unlock()
	if ok {
		s.kill(websocket.ClosePolicyViolation, "disconnected by the operator")
	}
	return ok
}

// Drain stops new matches: find_partner and next_partner get `draining`,
// and users waiting in the queue are told so and taken out of it. Pairs
// already talking go on. Draining cannot be undone.
func (h *Hub) Drain() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.draining {
		return
	}
	h.draining = true
	for _, s := range h.sessions {
		if s.state == waiting {
			h.dequeueLocked(s)
			s.sendError(errDraining)
		}
	}
	h.log.Info("draining: no new matches")
}

// Draining reports whether Drain was called.
func (h *Hub) Draining() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.draining
}

// EndAllRooms ends every room with partner_left "ended" to both users.
func (h *Hub) EndAllRooms() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.rooms {
		h.endRoomLocked(r, nil, ReasonEnded)
	}
}

// Close drains, ends every room, closes every connection with "going
// away", and waits until every session has released its resources.
func (h *Hub) Close() {
	h.Drain()
	h.EndAllRooms()
	h.mu.Lock()
	h.closed = true
	sessions := make([]*Session, 0, len(h.sessions))
	for _, s := range h.sessions {
		sessions = append(sessions, s)
	}
	h.mu.Unlock()
	for _, s := range sessions {
		s.kill(websocket.CloseGoingAway, "server shutting down")
	}
	h.running.Wait()
	if h.shared != nil {
		h.closeOutbox()
	}
}
