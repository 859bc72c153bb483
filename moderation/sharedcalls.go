package moderation

import (
	"fmt"
	"time"
)

// This file makes the low-trust pool weigh the calls of the whole cluster
// when the store is shared: each instance counts its own users' calls and
// now and then adds them to the cluster's counts (ShareCalls), reading back
// the cluster's totals of the clients who could be in the pool.

// CallCounter is a shared store's exchange of call counts: it adds deltas
// (calls per subject key made since the last exchange) to the cluster's
// counts, and returns the cluster's calls of each subject of watch made
// within keep.
type CallCounter func(deltas map[string]int, watch []string, keep time.Duration) (map[string]int, error)

// shareCalls starts counting the calls to be shared (NewShared calls it
// before the Moderator is used).
func (m *Moderator) shareCalls() {
	m.rep.mu.Lock()
	m.rep.pending = map[string]int{}
	m.rep.mu.Unlock()
}

// ShareCalls hands count the calls made here since the last exchange, and
// takes the cluster's totals (over the retention) as the calls of the
// clients reported often enough to be in the low-trust pool, so that their
// share of reports is reckoned over all their calls, on any instance. Calls
// that could not be handed over are kept for the next exchange. Call it
// every few seconds from one goroutine; a no-op unless the Moderator was
// made by NewShared with LowTrustPercent above 0.
func (m *Moderator) ShareCalls(count CallCounter) error {
	if m.cfg.LowTrustPercent == 0 {
		return nil
	}
	deltas, watch := m.rep.takePending(m.cfg.LowTrustMinReports)
	if deltas == nil || (len(deltas) == 0 && len(watch) == 0) {
		return nil
	}
	totals, err := count(deltas, watch, m.cfg.Retention)
	if err != nil {
		m.rep.restorePending(deltas)
		return fmt.Errorf("share calls: %w", err)
	}
	m.rep.setCalls(totals)
	return nil
}

// takePending returns the calls counted since the last take (nil when they
// are not shared) and the clients with at least minReports reports.
func (r *reputation) takePending(minReports int) (map[string]int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		return nil, nil
	}
	deltas := r.pending
	r.pending = map[string]int{}
	var watch []string
	for key, s := range r.clients {
		if s.reports >= minReports {
			watch = append(watch, key)
		}
	}
	return deltas, watch
}

// restorePending puts back deltas that could not be shared.
func (r *reputation) restorePending(deltas map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, n := range deltas {
		r.pending[key] += n
	}
}

// setCalls takes the cluster's totals as the clients' calls, plus those
// made here since they were read.
func (r *reputation) setCalls(totals map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, n := range totals {
		if s := r.clients[key]; s != nil {
			s.calls = n + r.pending[key]
		}
	}
}
