// Package api serves tandem's HTTP endpoints for operators and load
// balancers: health, readiness, statistics and rooms, and the admin operations of
// docs/api.md.
package api

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/tandemchat/tandem/moderation"
	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/signaling"
	"github.com/tandemchat/tandem/turn"
)

// Options are what the API reads and acts on.
type Options struct {
	Hub   *signaling.Hub
	Media *sfu.SFU     // nil leaves media totals out of /api/stats
	TURN  *turn.Server // nil when the embedded TURN server is off
	// AdminToken guards admin operations; empty disables them.
	AdminToken string
	// PublicStats makes /api/stats, /api/rooms and /metrics readable without the token.
	PublicStats bool
	// Metrics serves GET /metrics (Prometheus); nil leaves the route out.
	Metrics http.Handler
	// Moderation serves the review queue, bans and the audit log; nil leaves them out.
	Moderation *moderation.Moderator
	// AdminName is who the audit log names for actions taken with AdminToken ("admin" if empty).
	AdminName string
	// Cluster, in cluster mode, makes /api/stats and /api/rooms answer for
	// every instance (cluster.go); nil for a single instance.
	Cluster ClusterView
	// Instance is this instance's id in a cluster ("" for a single instance).
	Instance string
}

// API holds the handlers. Safe for concurrent use.
type API struct {
	opts Options
	log  *slog.Logger
}

// New returns the API over opts.
func New(opts Options, log *slog.Logger) *API {
	return &API{opts: opts, log: log}
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.HandleFunc("GET /api/stats", a.statsReader(a.stats))
	mux.HandleFunc("GET /api/rooms", a.statsReader(a.rooms))
	mux.HandleFunc("GET /api/rooms/{id}", a.statsReader(a.room))
	if a.opts.Metrics != nil {
		mux.HandleFunc("GET /metrics", a.statsReader(a.opts.Metrics.ServeHTTP))
	}
	a.registerAdmin(mux)
	a.registerModeration(mux)
}

func (a *API) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is 503 while draining, else 200. In cluster mode the body's
// "cluster" says whether users are matched through the shared queue
// ("shared") or, Redis being unreachable, on this instance only
// ("local_only"): the instance still serves, so it stays ready.
func (a *API) readyz(w http.ResponseWriter, _ *http.Request) {
	st := a.opts.Hub.Stats()
	body := map[string]string{"status": "ready"}
	if st.Cluster != "" {
		body["cluster"] = st.Cluster
	}
	if st.Draining {
		body["status"] = "draining"
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// StatsResponse is the body of GET /api/stats.
type StatsResponse struct {
	signaling.Stats
	TURNAllocations  int64      `json:"turnAllocations"`
	TURNRelayedBytes uint64     `json:"turnRelayedBytes"`
	Media            *sfu.Stats `json:"media,omitempty"`
	// In cluster mode: the whole cluster's counts and each instance's.
	ClusterTotal *ClusterTotal   `json:"clusterTotal,omitempty"`
	Instances    []InstanceStats `json:"instances,omitempty"`
}

func (a *API) stats(w http.ResponseWriter, r *http.Request) {
	resp := StatsResponse{Stats: a.opts.Hub.Stats()}
	if a.opts.Cluster != nil {
		views, ok := a.clusterViews(w, r)
		if !ok {
			return
		}
		addClusterStats(&resp, views)
	}
	if a.opts.TURN != nil {
		ts := a.opts.TURN.Stats()
		resp.TURNAllocations, resp.TURNRelayedBytes = ts.Allocations, ts.RelayedBytes
	}
	if a.opts.Media != nil {
		ms := a.opts.Media.Stats()
		resp.Media = &ms
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *API) rooms(w http.ResponseWriter, r *http.Request) {
	if a.opts.Cluster == nil {
		writeJSON(w, http.StatusOK, map[string]any{"rooms": a.opts.Hub.Rooms()})
		return
	}
	views, ok := a.clusterViews(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": mergeRooms(views)})
}

func (a *API) room(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if a.opts.Cluster != nil {
		views, ok := a.clusterViews(w, r)
		if !ok {
			return
		}
		for _, room := range mergeRooms(views) {
			if room.ID == id {
				writeJSON(w, http.StatusOK, room)
				return
			}
		}
		// Not published yet (a second old at most): this instance's own half, if any.
	}
	info, ok := a.opts.Hub.Room(id)
	if !ok {
		httpError(w, http.StatusNotFound, "no room with that id")
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// statsReader guards a read-only endpoint with the admin token unless
// statistics are public.
func (a *API) statsReader(next http.HandlerFunc) http.HandlerFunc {
	if a.opts.PublicStats {
		return next
	}
	return a.admin(next)
}

// writeJSON writes v as the JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// httpError is the one place errors become HTTP answers: a status and a JSON
// body {"error": message}.
func httpError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]string{"error": message})
}
