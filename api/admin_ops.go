package api

import (
	"net/http"

	"github.com/tandemchat/tandem/signaling"
)

// registerAdmin adds the admin operations, each behind the admin token.
// They act on the hub at once and answer JSON; an unknown id is a 404.
func (a *API) registerAdmin(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/admin/rooms/{id}/end", a.admin(a.endRoom))
	mux.HandleFunc("POST /api/admin/users/{id}/disconnect", a.admin(a.disconnectUser))
	mux.HandleFunc("POST /api/admin/drain", a.admin(a.drain))
}

// endRoom ends a room: both users get partner_left "ended" and are idle again.
func (a *API) endRoom(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !a.opts.Hub.EndRoom(id) {
		if a.opts.Cluster != nil { // a room of another instance?
			found, ok := a.roomElsewhere(w, r, id)
			if !ok {
				return
			}
			if found {
				a.forward(w, r, signaling.RemoteEndRoom, id)
				return
			}
		}
		httpError(w, http.StatusNotFound, "no room with that id")
		return
	}
	a.log.Info("admin: room ended", "room", id, "remote", r.RemoteAddr)
	a.audit("end_room", id)
	writeJSON(w, http.StatusOK, map[string]string{"status": "ended", "roomId": id})
}

// disconnectUser closes a user's WebSocket; the partner, if any, gets
// partner_left "disconnect".
func (a *API) disconnectUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !a.opts.Hub.Disconnect(id) {
		if a.opts.Cluster != nil { // maybe a user of another instance
			a.forward(w, r, signaling.RemoteDisconnect, id)
			return
		}
		httpError(w, http.StatusNotFound, "no connected user with that id")
		return
	}
	a.log.Info("admin: user disconnected", "user", id, "remote", r.RemoteAddr)
	a.audit("disconnect", id)
	writeJSON(w, http.StatusOK, map[string]string{"status": "disconnected", "userId": id})
}

// drain stops new matches (see signaling.Hub.Drain); /readyz turns 503.
// Calling it again changes nothing. In a cluster, ?instance=ID drains that
// instance, whichever instance the request reached.
func (a *API) drain(w http.ResponseWriter, r *http.Request) {
	if id := r.URL.Query().Get("instance"); id != "" && id != a.opts.Instance {
		a.drainElsewhere(w, r, id)
		return
	}
	a.opts.Hub.Drain()
	a.log.Info("admin: draining started", "remote", r.RemoteAddr)
	a.audit("drain", "")
	writeJSON(w, http.StatusOK, map[string]any{"status": "draining", "stats": a.opts.Hub.Stats()})
}
