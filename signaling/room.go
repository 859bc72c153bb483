package signaling

import (
	"time"

	"github.com/tandemchat/tandem/moderation"
)

// Room is a pair of users talking to each other. A room lives from
// partner_found until one of them leaves; ID, CreatedAt and the users never
// change. In cluster mode the partner may sit on another instance: then b
// is nil and remote names it (each instance keeps its half of the room,
// under the same ID).
type Room struct {
	ID        string
	CreatedAt time.Time
	a, b      *Session
	remote    *remotePartner
	chat      []moderation.ChatLine // the last evidenceLines chat lines; guarded by Hub.mu
}

// evidenceLines is how many of a room's last chat lines (both sides) a report keeps.
const evidenceLines = 20

// addChat keeps one chat line, dropping the oldest past evidenceLines.
// Called with Hub.mu held.
func (r *Room) addChat(from, text string, at time.Time) {
	if len(r.chat) == evidenceLines {
		copy(r.chat, r.chat[1:])
		r.chat = r.chat[:evidenceLines-1]
	}
	r.chat = append(r.chat, moderation.ChatLine{From: from, Text: text, At: at.UTC()})
}

// other returns s's partner in the room; nil if it is on another instance.
func (r *Room) other(s *Session) *Session {
	if r.a == s {
		return r.b
	}
	return r.a
}

// partnerID is the user id of s's partner, wherever it is.
func (r *Room) partnerID(s *Session) string {
	if r.remote != nil {
		return r.remote.id
	}
	return r.other(s).id
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
	UserID string `json:"userId"`
	// Instance is the cluster instance holding the user (cluster mode only);
	// the media figures are that instance's, zero where another one holds it.
	Instance           string  `json:"instance,omitempty"`
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
	RefusedBanned  uint64 `json:"refusedBanned"` // WebSockets turned away by a ban
	Draining       bool   `json:"draining"`
	// Cluster is "" for a single instance, else ClusterShared or ClusterLocalOnly.
	Cluster string `json:"cluster,omitempty"`
}

// The states of cluster mode in Stats.Cluster.
const (
	// ClusterShared: users are matched through the queue all instances share.
	ClusterShared = "shared"
	// ClusterLocalOnly: the shared queue (Redis) is unreachable; users are
	// matched with others of this instance only, running calls go on.
	ClusterLocalOnly = "local_only"
)
