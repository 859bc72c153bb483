package moderation

import (
	"fmt"
	"log/slog"
	"time"
)

// This file is the Moderator's side of a Store shared by several processes
// (tandem's cluster mode): the in-memory view (ban index, reputation,
// apartness) follows the writes the other processes make, told one by one
// (Apply) or read again as a whole (Reload).

// Change is one write another process made to a shared Store, as its
// watcher tells it. Exactly one field is set.
type Change struct {
	// Ban is a ban record stored: put in force, replaced or lifted.
	Ban *Ban `json:"ban,omitempty"`
	// BanDeleted is the target of a ban record deleted (past retention).
	BanDeleted string `json:"banDeleted,omitempty"`
	// Report is a report stored; only its ID, TargetKey and ReporterSubject
	// are carried.
	Report *Report `json:"report,omitempty"`
}

// NewShared is New for a Store shared by several processes: a store that
// cannot be read at start (Redis unreachable) is logged, not an error. The
// Moderator then keeps out only the static bans until the first Reload,
// which the shared store's watcher calls as soon as it connects. Reports
// the store refuses are kept in held (when not nil) until StoreHeld stores
// them; Close closes held.
func NewShared(cfg Config, store Store, held *Held, log *slog.Logger) (*Moderator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("moderation: %w", err)
	}
	m := newModerator(cfg, store, log)
	m.held = held
	m.shareCalls()
	m.loadStatic()
	if err := m.Reload(); err != nil {
		log.Warn("shared moderation store unreadable at start; loading it when it answers", "err", err)
	}
	m.startJanitor()
	return m, nil
}

// Apply brings the in-memory view up to date with a change another process
// made to the shared store: a ban in force there keeps the client out here
// too (and the OnBan listeners are told, so that its sessions end), a lifted
// or deleted one lets it in, and a report counts toward reputation and keeps
// the two clients apart. Safe for concurrent use.
func (m *Moderator) Apply(c Change) {
	switch {
	case c.Ban != nil:
		t, err := ParseTarget(c.Ban.Target)
		if err != nil {
			m.log.Warn("shared ban skipped: bad target", "target", c.Ban.Target, "err", err)
			return
		}
		m.mu.Lock()
		m.records[c.Ban.Target] = *c.Ban
		m.reindexLocked(t)
		listeners := m.onBan
		m.mu.Unlock()
		if c.Ban.Active(m.cfg.now()) {
			m.log.Info("ban in force (from another instance)", "target", c.Ban.Target, "until", c.Ban.Until, "by", c.Ban.By)
			for _, fn := range listeners {
				fn(*c.Ban)
			}
		}
	case c.BanDeleted != "":
		t, err := ParseTarget(c.BanDeleted)
		if err != nil {
			return
		}
		m.mu.Lock()
		delete(m.records, c.BanDeleted)
		m.reindexLocked(t)
		m.mu.Unlock()
	case c.Report != nil:
		m.rep.reportedOnce(c.Report.ID, c.Report.TargetKey)
		m.apart.add(reporterSubject(*c.Report), c.Report.TargetKey)
	}
}

// Reload reads the bans and the reports of the store again and replaces
// the in-memory view with them (the static bans stay, the held reports
// count); bans that came into force meanwhile are handed to the OnBan
// listeners. A shared store's watcher calls it whenever it (re)connects,
// since changes made while it was away were not told. Safe for concurrent
// use.
func (m *Moderator) Reload() error {
	m.heldMu.Lock() // no held report moves to the store between the two reads
	defer m.heldMu.Unlock()
	counts, apart, newest, err := m.readReports()
	if err != nil {
		return fmt.Errorf("reload reports: %w", err)
	}
	if err := m.countHeld(counts, apart); err != nil {
		return fmt.Errorf("reload reports: %w", err)
	}
	m.rep.setReports(counts, newest)
	m.apart.replace(apart)

	// A ban decided here meanwhile must not be overwritten by an older read.
	m.banMu.Lock()
	defer m.banMu.Unlock()
	bans, err := m.store.Bans()
	if err != nil {
		return fmt.Errorf("reload bans: %w", err)
	}
	now := m.cfg.now()
	fresh := make(map[string]Ban, len(bans))
	for _, b := range bans {
		if _, err := ParseTarget(b.Target); err != nil {
			m.log.Warn("stored ban skipped: bad target", "target", b.Target, "err", err)
			continue
		}
		fresh[b.Target] = b
	}
	var newly []Ban
	m.mu.Lock()
	old := m.records
	m.records = fresh
	for target := range old {
		t, _ := ParseTarget(target)
		m.reindexLocked(t)
	}
	for target, b := range fresh {
		t, _ := ParseTarget(target)
		m.reindexLocked(t)
		if prev, had := old[target]; b.Active(now) && (!had || !prev.Active(now) || prev.Until != b.Until) {
			newly = append(newly, b)
		}
	}
	listeners := m.onBan
	m.mu.Unlock()
	for _, b := range newly {
		for _, fn := range listeners {
			fn(b)
		}
	}
	return nil
}

// Subject is the key the moderation rules know a client by (its identity
// when it has one, else its address key, hashed when IPs are): the key a
// report's TargetKey and ReporterSubject hold, and what Apart compares.
func (m *Moderator) Subject(ip, identity string) string { return m.subjectKey(ip, identity) }

// janitorEvery is how often the retention janitor runs.
const janitorEvery = time.Hour
