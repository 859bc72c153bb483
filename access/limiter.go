package access

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Refusal codes, also used as the JSON body's "code".
const (
	codeRateLimited     = "rate_limited"
	codeTooManySessions = "too_many_sessions"
)

// idleAfter is how long an IP without sessions is remembered: by then its
// connection bucket has refilled completely, so forgetting it changes nothing.
const idleAfter = time.Minute

// refusal is why the limiter said no.
type refusal struct {
	code       string
	reason     string
	retryAfter time.Duration
}

// ipEntry is what the limiter remembers about one IP. Guarded by limiter.mu.
type ipEntry struct {
	bucket   *rate.Limiter // new connections
	active   int           // sessions open now
	lastSeen time.Time     // last connection or session end
}

// limiter holds the per-IP table. Its size is bounded: IPs idle for
// idleAfter are swept out (at most once per idleAfter, amortised over
// acquire calls), and when the table is full idle IPs are dropped at once
// to make room. IPs with open sessions are always kept. Safe for concurrent use.
type limiter struct {
	perMinute, perIP, maxIPs int
	now                      func() time.Time

	mu        sync.Mutex
	ips       map[string]*ipEntry
	lastSweep time.Time
}

func newLimiter(perMinute, perIP, maxIPs int, now func() time.Time) *limiter {
	return &limiter{perMinute: perMinute, perIP: perIP, maxIPs: maxIPs, now: now, ips: make(map[string]*ipEntry)}
}

// acquire admits one new connection from key, or says why not. The caller
// must call release once when the session ends.
func (l *limiter) acquire(key string) (release func(), _ *refusal) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.lastSweep) >= idleAfter {
		l.sweepLocked(now, false)
	}
	e := l.ips[key]
	if e == nil {
		if len(l.ips) >= l.maxIPs {
			l.sweepLocked(now, true)
		}
		e = &ipEntry{bucket: rate.NewLimiter(rate.Every(time.Minute/time.Duration(l.perMinute)), l.perMinute)}
		l.ips[key] = e
	}
	e.lastSeen = now
	if !e.bucket.AllowN(now, 1) {
		return nil, &refusal{
			code:       codeRateLimited,
			reason:     fmt.Sprintf("too many new connections from your address: at most %d a minute; try again shortly", l.perMinute),
			retryAfter: max(time.Second, time.Minute/time.Duration(l.perMinute)),
		}
	}
	if e.active >= l.perIP {
		return nil, &refusal{
			code:       codeTooManySessions,
			reason:     fmt.Sprintf("too many open sessions from your address: at most %d at once; close one first", l.perIP),
			retryAfter: 10 * time.Second,
		}
	}
	e.active++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			e.active-- // e is still in the table: entries with sessions are never swept
			e.lastSeen = l.now()
		})
	}, nil
}

// sweepLocked forgets IPs without sessions that were idle for idleAfter, or,
// with full set, every IP without sessions. Called with mu held.
func (l *limiter) sweepLocked(now time.Time, full bool) {
	l.lastSweep = now
	for key, e := range l.ips {
		if e.active == 0 && (full || now.Sub(e.lastSeen) >= idleAfter) {
			delete(l.ips, key)
		}
	}
}

// size is the number of IPs remembered now.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ips)
}
