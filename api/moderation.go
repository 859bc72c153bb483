package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tandemchat/tandem/moderation"
)

// registerModeration adds the review queue, bans and the audit log, each
// behind the admin token. Every change is recorded in the audit log under
// the admin token's name.
func (a *API) registerModeration(mux *http.ServeMux) {
	if a.opts.Moderation == nil {
		return
	}
	mux.HandleFunc("GET /api/admin/reports", a.admin(a.listReports))
	mux.HandleFunc("GET /api/admin/reports/{id}", a.admin(a.getReport))
	mux.HandleFunc("POST /api/admin/reports/{id}/review", a.admin(a.reviewReport))
	mux.HandleFunc("GET /api/admin/bans", a.admin(a.listBans))
	mux.HandleFunc("POST /api/admin/bans", a.admin(a.addBan))
	mux.HandleFunc("DELETE /api/admin/bans", a.admin(a.liftBan))
	mux.HandleFunc("GET /api/admin/audit", a.admin(a.listAudit))
}

// maxLimit is the largest page the list endpoints return.
const maxLimit = 500

// listReports answers {"reports": [...], "next": id} newest first; next,
// when not empty, is the before= of the following page.
func (a *API) listReports(w http.ResponseWriter, r *http.Request) {
	f, err := reportFilter(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	reports, err := a.opts.Moderation.Reports(f)
	if err != nil {
		a.storeError(w, err)
		return
	}
	next := ""
	if len(reports) == f.Limit {
		next = reports[len(reports)-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{"reports": reports, "next": next})
}

// reportFilter reads the query of GET /api/admin/reports.
func reportFilter(r *http.Request) (moderation.ReportFilter, error) {
	q := r.URL.Query()
	f := moderation.ReportFilter{
		Reason: q.Get("reason"), Status: q.Get("status"), UserID: q.Get("user"),
		IP: q.Get("ip"), Before: q.Get("before"),
	}
	if f.Reason != "" && !moderation.ValidReason(f.Reason) {
		return f, fmt.Errorf("reason %q is not one of %v", f.Reason, moderation.Reasons)
	}
	var err error
	if f.Since, err = queryTime(q.Get("since"), "since"); err != nil {
		return f, err
	}
	if f.Until, err = queryTime(q.Get("until"), "until"); err != nil {
		return f, err
	}
	f.Limit, err = queryLimit(q.Get("limit"))
	return f, err
}

func queryTime(s, name string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, fmt.Errorf("%s: want an RFC 3339 time like 2026-03-01T12:00:00Z", name)
	}
	return t, nil
}

func queryLimit(s string) (int, error) {
	if s == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, fmt.Errorf("limit: want a whole number from 1 to %d", maxLimit)
	}
	return n, nil
}

func (a *API) getReport(w http.ResponseWriter, r *http.Request) {
	report, err := a.opts.Moderation.Report(r.PathValue("id"))
	if err != nil {
		a.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, report)
}

// reviewReport sets a report's status: {"status": "reviewed"|"dismissed"|"open", "note": "..."}.
func (a *API) reviewReport(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Status string `json:"status"`
		Note   string `json:"note"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	report, err := a.opts.Moderation.Review(r.PathValue("id"), body.Status, body.Note, a.actor())
	if err != nil {
		a.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, report)
}

func (a *API) listBans(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"bans": a.opts.Moderation.Bans()})
}

// addBan bans {"target": IP, CIDR or identity:NAME, "reason": "...", "duration": "24h"};
// the client's connected sessions end at once.
func (a *API) addBan(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Target   string `json:"target"`
		Reason   string `json:"reason"`
		Duration string `json:"duration"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	d, err := time.ParseDuration(body.Duration)
	if err != nil || d <= 0 {
		httpError(w, http.StatusBadRequest, "duration: want a positive duration like 24h or 90m")
		return
	}
	if body.Reason == "" {
		body.Reason = moderation.ReasonOther
	}
	ban, err := a.opts.Moderation.Ban(body.Target, body.Reason, d, a.actor())
	if err != nil {
		a.storeError(w, err)
		return
	}
	a.log.Info("admin: ban", "target", ban.Target, "until", ban.Until, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusCreated, ban)
}

// liftBan lifts the ban of ?target=.
func (a *API) liftBan(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Query().Get("target")
	if err := a.opts.Moderation.Unban(target, a.actor()); err != nil {
		a.storeError(w, err)
		return
	}
	a.log.Info("admin: unban", "target", target, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]string{"status": "lifted", "target": target})
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) {
	limit, err := queryLimit(r.URL.Query().Get("limit"))
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	entries, err := a.opts.Moderation.Audit(limit, r.URL.Query().Get("before"))
	if err != nil {
		a.storeError(w, err)
		return
	}
	next := ""
	if len(entries) == limit {
		next = entries[len(entries)-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries, "next": next})
}

// audit records an admin action on the hub; a failure is logged, since the
// action has been taken already.
func (a *API) audit(action, target string) {
	if a.opts.Moderation == nil {
		return
	}
	if err := a.opts.Moderation.Record(a.actor(), action, target, ""); err != nil {
		a.log.Error("audit log", "action", action, "err", err)
	}
}

// actor is the name the audit log gives the admin token.
func (a *API) actor() string {
	if a.opts.AdminName == "" {
		return "admin"
	}
	return a.opts.AdminName
}

// storeError maps a moderation error to its HTTP answer: 404 for an
// unknown id or target, 400 for a bad request, 500 for the store.
func (a *API) storeError(w http.ResponseWriter, err error) {
	var badTarget *moderation.TargetError
	switch {
	case errors.Is(err, moderation.ErrNotFound):
		httpError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, moderation.ErrBadReport), errors.As(err, &badTarget), errors.Is(err, moderation.ErrBadBan):
		httpError(w, http.StatusBadRequest, err.Error())
	default:
		a.log.Error("moderation store", "err", err)
		httpError(w, http.StatusInternalServerError, "the moderation store failed; see the server log")
	}
}

// decodeBody reads a JSON body of at most 64 KiB into v, answering 400
// itself when it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		httpError(w, http.StatusBadRequest, "body: want a JSON object: "+err.Error())
		return false
	}
	return true
}
