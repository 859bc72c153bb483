package moderation

import "sync"

// apartness remembers the clients who were in a call that one of them
// reported: the two are never paired again, in later visits too and across
// restarts, for as long as the report is kept. Keys are subject keys (an
// identity, or an address key, hashed when IPs are). Safe for concurrent use.
type apartness struct {
	mu    sync.RWMutex
	pairs map[string]map[string]struct{}
}

func newApartness() *apartness { return &apartness{pairs: map[string]map[string]struct{}{}} }

// add keeps x and y apart.
func (a *apartness) add(x, y string) {
	if x == "" || y == "" || x == y {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range [2][2]string{{x, y}, {y, x}} {
		set := a.pairs[p[0]]
		if set == nil {
			set = map[string]struct{}{}
			a.pairs[p[0]] = set
		}
		set[p[1]] = struct{}{}
	}
}

// replace takes the pairs of fresh (which nobody else uses) instead of its own.
func (a *apartness) replace(fresh *apartness) {
	a.mu.Lock()
	a.pairs = fresh.pairs
	a.mu.Unlock()
}

// apart reports whether x and y are kept apart.
func (a *apartness) apart(x, y string) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	_, ok := a.pairs[x][y]
	return ok
}

// Apart reports whether two clients (by IP and identity) must never be
// paired: one of them reported the other, in this visit or an earlier one.
func (m *Moderator) Apart(ipA, identityA, ipB, identityB string) bool {
	return m.apart.apart(m.subjectKey(ipA, identityA), m.subjectKey(ipB, identityB))
}

// reporterSubject is the subject key of a stored report's reporter (reports
// stored before it was recorded fall back to the reporter's address key).
func reporterSubject(r Report) string {
	if r.ReporterSubject != "" {
		return r.ReporterSubject
	}
	return r.ReporterKey
}
