package turn

import (
	"io"
	"sync"
	"time"
)

// ledger ties TURN credentials to the sessions that received them. A user id is live from
// the moment ICEServers hands it credentials until Release; after a grace period (for
// requests already in flight) its credentials stop working and its allocations are closed,
// whatever expiry the credentials carry. Safe for concurrent use; mu guards only the map and
// is never held while a socket closes.
type ledger struct {
	grace time.Duration

	mu     sync.Mutex
	users  map[string]*ledgerEntry
	closed bool
}

type ledgerEntry struct {
	ended  *time.Timer            // set by release; fires after the grace period
	relays map[io.Closer]struct{} // the user's open relay sockets
}

func newLedger(grace time.Duration) *ledger {
	return &ledger{grace: grace, users: make(map[string]*ledgerEntry)}
}

// issue marks user live (again): credentials handed out now work until release.
func (l *ledger) issue(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.users[user]
	if e == nil {
		e = &ledgerEntry{relays: make(map[io.Closer]struct{})}
		l.users[user] = e
	}
	if e.ended != nil {
		e.ended.Stop()
		e.ended = nil
	}
}

// live reports whether user's credentials may be used now: issued and not released longer
// than the grace period ago.
func (l *ledger) live(user string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.users[user]
	return ok
}

// release ends user's credentials after the grace period; then its relays are closed.
func (l *ledger) release(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.users[user]; e != nil && !l.closed && e.ended == nil {
		e.ended = time.AfterFunc(l.grace, func() { l.expire(user, e) })
	}
}

// expire forgets user (unless it was issued credentials again meanwhile) and closes its relays.
func (l *ledger) expire(user string, e *ledgerEntry) {
	l.mu.Lock()
	if l.users[user] != e || e.ended == nil {
		l.mu.Unlock()
		return
	}
	delete(l.users, user)
	relays := make([]io.Closer, 0, len(e.relays))
	for r := range e.relays {
		relays = append(relays, r)
	}
	l.mu.Unlock()
	for _, r := range relays {
		_ = r.Close()
	}
}

// track records an open relay socket of user, so expire can close it. It reports false,
// and records nothing, when the user is not live (released while the allocation was made).
func (l *ledger) track(user string, relay io.Closer) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.users[user]
	if e == nil {
		return false
	}
	e.relays[relay] = struct{}{}
	return true
}

// untrack forgets a relay socket that closed.
func (l *ledger) untrack(user string, relay io.Closer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.users[user]; e != nil {
		delete(e.relays, relay)
	}
}

// close stops every pending expiry; the server closes the relays itself.
func (l *ledger) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, e := range l.users {
		if e.ended != nil {
			e.ended.Stop()
		}
	}
}
