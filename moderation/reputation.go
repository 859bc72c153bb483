package moderation

import "sync"

// maxTracked bounds the reputation table; past it, clients that were never
// reported are forgotten.
const maxTracked = 200_000

// reputation counts, per client (identity, or address key), the calls it
// made and the reports it received. Reports are rebuilt from the store at
// start; calls are counted since start. Safe for concurrent use.
type reputation struct {
	mu      sync.Mutex
	clients map[string]*standing
	// pending counts, with a shared store, the calls made here and not yet
	// added to the cluster's counts (ShareCalls); nil without one.
	pending map[string]int
	// counted is the greatest report ID the counts include from a read of
	// the store or another instance's change (IDs grow with time): a change
	// told again after a read that already held it is not counted twice.
	counted string
}

type standing struct{ calls, reports int }

func newReputation() *reputation { return &reputation{clients: map[string]*standing{}} }

func (r *reputation) get(key string) *standing {
	s := r.clients[key]
	if s == nil {
		if len(r.clients) >= maxTracked {
			r.forgetUnreported()
		}
		s = &standing{}
		r.clients[key] = s
	}
	return s
}

func (r *reputation) forgetUnreported() {
	for k, s := range r.clients {
		if s.reports == 0 {
			delete(r.clients, k)
		}
	}
}

func (r *reputation) reported(key string) {
	r.mu.Lock()
	r.get(key).reports++
	r.mu.Unlock()
}

// reportedOnce counts report id about key unless the counts hold it
// already (an id not above counted).
func (r *reputation) reportedOnce(id, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id != "" && id <= r.counted {
		return
	}
	r.counted = max(r.counted, id)
	r.get(key).reports++
}

// setReports replaces every client's count of reports received with
// counts (the calls counted stay), read up to report newest.
func (r *reputation) setReports(counts map[string]int, newest string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counted = newest
	for _, s := range r.clients {
		s.reports = 0
	}
	for key, n := range counts {
		r.get(key).reports = n
	}
}

func (r *reputation) called(key string) {
	r.mu.Lock()
	r.get(key).calls++
	if r.pending != nil && (len(r.pending) < maxTracked || r.pending[key] > 0) {
		r.pending[key]++
	}
	r.mu.Unlock()
}

// low reports whether key received at least minReports reports, in at
// least percent of its calls.
func (r *reputation) low(key string, percent, minReports int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.clients[key]
	return s != nil && s.reports >= minReports && s.reports*100 >= percent*max(s.calls, 1)
}

// loadReputation counts the stored reports about each client, and keeps
// apart the clients of each stored report.
func (m *Moderator) loadReputation() error {
	counts, apart, newest, err := m.readReports()
	if err != nil {
		return err
	}
	m.rep.setReports(counts, newest)
	m.apart.replace(apart)
	return nil
}

// readReports counts the stored reports about each client (by subject key)
// and lists the pairs they keep apart, reading the store a page at a time.
// newest is the greatest report ID read.
func (m *Moderator) readReports() (counts map[string]int, apart *apartness, newest string, err error) {
	counts, apart = map[string]int{}, newApartness()
	before := ""
	for {
		page, err := m.store.Reports(ReportFilter{Before: before, Limit: 1000})
		if err != nil {
			return nil, nil, "", err
		}
		for _, r := range page {
			newest = max(newest, r.ID)
			counts[r.TargetKey]++
			apart.add(reporterSubject(r), r.TargetKey)
		}
		if len(page) < 1000 {
			return counts, apart, newest, nil
		}
		before = page[len(page)-1].ID
	}
}

// CallMade counts a call (a pairing) of the client with this IP and identity.
func (m *Moderator) CallMade(ip, identity string) {
	if m.cfg.LowTrustPercent > 0 {
		m.rep.called(m.subjectKey(ip, identity))
	}
}

// LowTrust reports whether the client belongs in the low-trust pool: it was
// reported at least LowTrustMinReports times, in at least LowTrustPercent
// of its calls. Always false when LowTrustPercent is 0.
func (m *Moderator) LowTrust(ip, identity string) bool {
	if m.cfg.LowTrustPercent == 0 {
		return false
	}
	return m.rep.low(m.subjectKey(ip, identity), m.cfg.LowTrustPercent, m.cfg.LowTrustMinReports)
}
