package signaling

import "time"

// Room is a pair of users talking to each other. A room lives from
// partner_found until one of them leaves; its fields never change.
type Room struct {
	ID        string
	CreatedAt time.Time
	a, b      *Session
}

// other returns s's partner in the room.
func (r *Room) other(s *Session) *Session {
	if r.a == s {
		return r.b
	}
	return r.a
}

// RoomInfo is a room as /api/rooms shows it.
type RoomInfo struct {
	ID           string            `json:"id"`
	CreatedAt    time.Time         `json:"createdAt"`
	BitrateBps   int64             `json:"bitrateBps"`
	Participants []ParticipantInfo `json:"participants"`
}

// ParticipantInfo is one user of a room with their media figures.
type ParticipantInfo struct {
	UserID             string  `json:"userId"`
	InboundBitrateBps  int64   `json:"inboundBitrateBps"`
	OutboundBitrateBps int64   `json:"outboundBitrateBps"`
	PacketsIn          uint64  `json:"packetsIn"`
	PacketsOut         uint64  `json:"packetsOut"`
	PacketsLost        uint64  `json:"packetsLost"`
	JitterMs           float64 `json:"jitterMs"`
	RTTMs              float64 `json:"rttMs"`
}

// Stats are the hub's counts for /api/stats.
type Stats struct {
	ConnectedUsers int    `json:"connectedUsers"`
	WaitingUsers   int    `json:"waitingUsers"`
	ActiveRooms    int    `json:"activeRooms"`
	TotalMatches   uint64 `json:"totalMatches"`
	Draining       bool   `json:"draining"`
}
