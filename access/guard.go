// Package access decides who may open a WebSocket on /ws, before the upgrade:
// an optional signed access token (HS256 JWT) naming the user, and per-IP
// limits on new connections per minute and on concurrent sessions.
//
// A refused request gets a plain HTTP answer with a JSON body
// {"error": reason, "code": code}: 401 "unauthorized" for a missing, wrong or
// expired token, 429 "rate_limited" or "too_many_sessions" for the limits.
package access

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Config configures a Guard.
type Config struct {
	// JWTSecret, when not empty, requires every /ws request to carry an HS256
	// JWT signed with it, with a "sub" (the user's identity) and an "exp".
	JWTSecret string
	// ConnectionsPerMinute is how many new connections one IP may open per
	// minute (a bucket of that size, refilled evenly over the minute).
	ConnectionsPerMinute int
	// SessionsPerIP is how many sessions one IP may hold open at once.
	SessionsPerIP int
	// ConnsPerIP is how many TCP connections one IP may hold open at once
	// on the listeners wrapped by LimitListener; 0 means no cap. It must be
	// 0 or at least SessionsPerIP (each session holds a connection).
	ConnsPerIP int
	// JWTAudience, when not empty, requires the token's "aud" to include it.
	JWTAudience string
	// JWTIssuer, when not empty, requires the token's "iss" to equal it.
	JWTIssuer string
	// TrustedProxies are the IPs or CIDR prefixes of reverse proxies whose
	// X-Forwarded-For header names the real client; empty trusts nobody.
	TrustedProxies []string
	// MaxTrackedIPs bounds the per-IP table; 0 means DefaultMaxTrackedIPs.
	MaxTrackedIPs int
	// WithSubject, when set, stores the verified token subject in the
	// request's context for the wrapped handler.
	WithSubject func(ctx context.Context, subject string) context.Context
	// WithRelease, when set, hands the wrapped handler the function that
	// frees the request's session slot, for a handler (the signaling hub)
	// whose sessions outlive ServeHTTP; it must call it exactly once. When
	// nil, the slot is freed when the wrapped handler returns.
	WithRelease func(ctx context.Context, release func()) context.Context
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultMaxTrackedIPs is the per-IP table's default bound.
const DefaultMaxTrackedIPs = 100_000

// Stats counts refusals since start and the IPs remembered now.
type Stats struct {
	Unauthorized    uint64 // 401: missing, wrong or expired token
	RateLimited     uint64 // 429: too many new connections per minute
	TooManySessions uint64 // 429: too many concurrent sessions
	ConnsRefused    uint64 // TCP connections closed at accept: over the per-IP cap
	TrackedIPs      int    // entries in the per-IP table
}

// Guard is the /ws gate. Safe for concurrent use.
type Guard struct {
	cfg      Config
	log      *slog.Logger
	proxies  proxyList
	verifier *verifier // nil when tokens are not required
	limits   *limiter
	conns    *connTable // nil without a per-IP connection cap

	unauthorized, rateLimited, tooMany atomic.Uint64
}

// New checks cfg and returns a Guard.
func New(cfg Config, log *slog.Logger) (*Guard, error) {
	if cfg.ConnectionsPerMinute < 1 || cfg.SessionsPerIP < 1 {
		return nil, fmt.Errorf("access limits: connections per minute and sessions per IP must be at least 1")
	}
	if cfg.ConnsPerIP != 0 && cfg.ConnsPerIP < cfg.SessionsPerIP {
		return nil, fmt.Errorf("access limits: connections per IP (%d) must be 0 or at least sessions per IP (%d)", cfg.ConnsPerIP, cfg.SessionsPerIP)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxTrackedIPs <= 0 {
		cfg.MaxTrackedIPs = DefaultMaxTrackedIPs
	}
	proxies, err := parseProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	g := &Guard{
		cfg:     cfg,
		log:     log,
		proxies: proxies,
		limits:  newLimiter(cfg.ConnectionsPerMinute, cfg.SessionsPerIP, cfg.MaxTrackedIPs, cfg.Now),
	}
	if cfg.ConnsPerIP > 0 {
		g.conns = newConnTable(cfg.ConnsPerIP, proxies)
	}
	if cfg.JWTSecret != "" {
		g.verifier = newVerifier([]byte(cfg.JWTSecret), cfg.JWTAudience, cfg.JWTIssuer, cfg.Now)
	}
	return g, nil
}

// Stats returns the refusal counters and the table size.
func (g *Guard) Stats() Stats {
	return Stats{
		Unauthorized:    g.unauthorized.Load(),
		RateLimited:     g.rateLimited.Load(),
		TooManySessions: g.tooMany.Load(),
		ConnsRefused:    g.connsRefused(),
		TrackedIPs:      g.limits.size(),
	}
}

// connsRefused is how many connections LimitListener closed at accept.
func (g *Guard) connsRefused() uint64 {
	if g.conns == nil {
		return 0
	}
	return g.conns.refused.Load()
}

// Wrap returns a handler that admits a request to next only within the
// limits and, when tokens are required, with a valid token. next runs with
// r.RemoteAddr set to the real client (from X-Forwarded-For of a trusted
// proxy), without the token in its query, and with the subject attached by
// Config.WithSubject; the session slot is held until next returns, or
// until the function handed over by Config.WithRelease is called.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip, fromProxy := g.proxies.clientIP(r)
		release, refusal := g.limits.acquire(ipKey(ip))
		if refusal != nil {
			g.refuseLimit(w, ip, refusal)
			return
		}
		r, ok := g.authorize(w, r, ip)
		if !ok {
			release()
			return
		}
		if fromProxy {
			r.RemoteAddr = clientAddr(ip)
		}
		if g.cfg.WithRelease == nil {
			defer release()
		} else {
			r = r.WithContext(g.cfg.WithRelease(r.Context(), release))
		}
		next.ServeHTTP(w, r)
	})
}

// authorize verifies the token when one is required and returns the request
// for next: a clone without the token, carrying the subject. false means a
// 401 was written.
func (g *Guard) authorize(w http.ResponseWriter, r *http.Request, ip string) (*http.Request, bool) {
	raw, where := tokenOf(r)
	r = r.Clone(r.Context())
	stripToken(r)
	if g.verifier == nil {
		return r, true
	}
	if raw == "" {
		g.refuseToken(w, ip, "missing access token: pass it as the token query parameter of /ws or as Authorization: Bearer")
		return nil, false
	}
	subject, err := g.verifier.verify(raw)
	if err != nil {
		g.refuseToken(w, ip, err.Error())
		return nil, false
	}
	if g.cfg.WithSubject != nil {
		r = r.WithContext(g.cfg.WithSubject(r.Context(), subject))
	}
	g.log.Debug("access token accepted", "identity", subject, "remote", ip, "from", where)
	return r, true
}

func (g *Guard) refuseToken(w http.ResponseWriter, ip, reason string) {
	g.unauthorized.Add(1)
	g.log.Info("websocket refused: access token", "remote", ip, "reason", reason)
	w.Header().Set("WWW-Authenticate", `Bearer realm="tandem", error="invalid_token"`)
	writeRefusal(w, http.StatusUnauthorized, "unauthorized", reason)
}

func (g *Guard) refuseLimit(w http.ResponseWriter, ip string, ref *refusal) {
	if ref.code == codeRateLimited {
		g.rateLimited.Add(1)
	} else {
		g.tooMany.Add(1)
	}
	g.log.Debug("websocket refused: per-IP limit", "remote", ip, "code", ref.code)
	w.Header().Set("Retry-After", strconv.Itoa(int(ref.retryAfter.Round(time.Second)/time.Second)))
	writeRefusal(w, http.StatusTooManyRequests, ref.code, ref.reason)
}

// writeRefusal answers with status and {"error": reason, "code": code}.
func writeRefusal(w http.ResponseWriter, status int, code, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": reason, "code": code})
}
