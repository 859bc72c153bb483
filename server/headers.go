package server

import "net/http"

// hstsValue asks browsers to use HTTPS for this host for a year. It leaves
// out includeSubDomains and preload: other names under the same domain may
// not serve HTTPS, and preloading is the operator's decision.
const hstsValue = "max-age=31536000"

// securityHeaders wraps next so that every response carries
// "X-Content-Type-Options: nosniff" (API answers and errors included, not
// only the web client's files, which web.Handler already marks) and, when
// the listener serves HTTPS, Strict-Transport-Security. The page's
// Content-Security-Policy belongs to web.Handler, which knows what the page
// loads. The returned handler is as safe for concurrent use as next.
func securityHeaders(next http.Handler, https bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if https {
			h.Set("Strict-Transport-Security", hstsValue)
		}
		next.ServeHTTP(w, r)
	})
}
