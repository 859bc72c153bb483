package api

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/tandemchat/tandem/signaling"
)

// InstanceView is what one instance of a cluster publishes of itself, for
// the others' /api/stats and /api/rooms.
type InstanceView struct {
	Instance string               `json:"instance"`
	Stats    signaling.Stats      `json:"stats"`
	Rooms    []signaling.RoomInfo `json:"rooms"`
}

// ClusterView reads the views of every live instance (this one included),
// which may be a second or two old, and passes operators' operations to the
// other instances. Safe for concurrent use.
type ClusterView interface {
	Views(ctx context.Context) ([]InstanceView, error)
	// Forward sends an operation (signaling.RemoteEndRoom with a room id,
	// signaling.RemoteDisconnect with a user id) to every other live
	// instance; the one holding the room or user acts on it.
	Forward(ctx context.Context, op, id string) error
}

// ClusterTotal sums the live instances' counts; a room across two instances
// counts once.
type ClusterTotal struct {
	Instances      int    `json:"instances"`
	ConnectedUsers int    `json:"connectedUsers"`
	WaitingUsers   int    `json:"waitingUsers"`
	ActiveRooms    int    `json:"activeRooms"`
	TotalMatches   uint64 `json:"totalMatches"`
}

// InstanceStats is one instance's counts in /api/stats.
type InstanceStats struct {
	Instance string `json:"instance"`
	signaling.Stats
}

// viewTimeout bounds reading the cluster's views for one request.
const viewTimeout = 2 * time.Second

// clusterViews reads the views, or answers 503 and returns false.
func (a *API) clusterViews(w http.ResponseWriter, r *http.Request) ([]InstanceView, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), viewTimeout)
	defer cancel()
	views, err := a.opts.Cluster.Views(ctx)
	if err != nil {
		a.log.Warn("cluster views unreadable", "err", err)
		httpError(w, http.StatusServiceUnavailable, "the cluster's figures are unreadable (Redis): "+err.Error())
		return nil, false
	}
	return views, true
}

// addClusterStats fills resp's cluster-wide part from views.
func addClusterStats(resp *StatsResponse, views []InstanceView) {
	total := ClusterTotal{Instances: len(views)}
	for _, v := range views {
		total.ConnectedUsers += v.Stats.ConnectedUsers
		total.WaitingUsers += v.Stats.WaitingUsers
		total.TotalMatches += v.Stats.TotalMatches
		resp.Instances = append(resp.Instances, InstanceStats{Instance: v.Instance, Stats: v.Stats})
	}
	total.ActiveRooms = len(mergeRooms(views))
	resp.ClusterTotal = &total
}

// mergeRooms joins the halves of each room that the instances published:
// each participant as its own instance describes it (with its media
// figures). Oldest first.
func mergeRooms(views []InstanceView) []signaling.RoomInfo {
	byID := map[string]*signaling.RoomInfo{}
	for _, v := range views {
		for _, room := range v.Rooms {
			m := byID[room.ID]
			if m == nil {
				c := room
				c.Participants = append([]signaling.ParticipantInfo(nil), room.Participants...)
				c.BitrateBps = 0
				byID[room.ID] = &c
				m = &c
			}
			for _, p := range room.Participants {
				if p.Instance != v.Instance {
					continue // the other instance describes it
				}
				for i := range m.Participants {
					if m.Participants[i].UserID == p.UserID {
						m.Participants[i] = p
					}
				}
				m.BitrateBps += p.OutboundBitrateBps
			}
		}
	}
	out := make([]signaling.RoomInfo, 0, len(byID))
	for _, r := range byID {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// forward passes an operation this instance could not do to the others,
// answering 202 (sent; the instance holding it acts within a moment) or 503.
func (a *API) forward(w http.ResponseWriter, r *http.Request, op, id string) {
	ctx, cancel := context.WithTimeout(r.Context(), viewTimeout)
	defer cancel()
	if err := a.opts.Cluster.Forward(ctx, op, id); err != nil {
		a.log.Warn("admin operation not forwarded", "op", op, "id", id, "err", err)
		httpError(w, http.StatusServiceUnavailable, "the other instances are unreachable (Redis): "+err.Error())
		return
	}
	a.log.Info("admin: operation forwarded to the other instances", "op", op, "id", id, "remote", r.RemoteAddr)
	a.audit(op, id)
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "forwarded", "id": id})
}

// roomElsewhere reports whether another instance published room id.
func (a *API) roomElsewhere(w http.ResponseWriter, r *http.Request, id string) (bool, bool) {
	views, ok := a.clusterViews(w, r)
	if !ok {
		return false, false
	}
	for _, room := range mergeRooms(views) {
		if room.ID == id {
			return true, true
		}
	}
	return false, true
}

// drainElsewhere passes a drain to the live instance id, or answers 404.
func (a *API) drainElsewhere(w http.ResponseWriter, r *http.Request, id string) {
	if a.opts.Cluster == nil {
		httpError(w, http.StatusNotFound, "no instance with that id: this server is not in a cluster")
		return
	}
	views, ok := a.clusterViews(w, r)
	if !ok {
		return
	}
	for _, v := range views {
		if v.Instance == id {
			a.forward(w, r, signaling.RemoteDrain, id)
			return
		}
	}
	httpError(w, http.StatusNotFound, "no live instance with that id")
}
