package api

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// admin guards next with the admin bearer token: 401 without a token, 403
// with a wrong one or while admin is disabled (no token configured).
func (a *API) admin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tandem"`)
			httpError(w, http.StatusUnauthorized, "missing Authorization: Bearer <admin token>")
			return
		}
		if a.opts.AdminToken == "" {
			httpError(w, http.StatusForbidden, "admin operations are disabled: no admin token is configured")
			return
		}
		if subtle.ConstantTimeCompare([]byte(token), []byte(a.opts.AdminToken)) != 1 {
			httpError(w, http.StatusForbidden, "wrong admin token")
			return
		}
		next(w, r)
	}
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}
