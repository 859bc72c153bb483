package moderation

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Moderator applies the rules of Config over a Store: it records reports,
// bans clients named by enough of them, answers whether a client is banned
// or belongs in the low-trust pool, and keeps the audit log. Safe for
// concurrent use; Check and LowTrust do no I/O.
type Moderator struct {
	cfg   Config
	log   *slog.Logger
	store Store
	rep   *reputation
	apart *apartness // pairs a report keeps apart
	// held keeps the reports a shared store refused (NewShared); nil
	// with a store of one's own. heldMu serialises StoreHeld and
	// Reload; it is taken before banMu.
	held   *Held
	heldMu sync.Mutex

	banMu sync.Mutex // serialises ban decisions (read record, count, write)

	mu      sync.RWMutex
	index   *banIndex
	records map[string]Ban // every stored ban record, by target
	static  []Ban          // the configuration's bans
	onBan   []func(Ban)

	reports  sync.Map // reason -> *atomic.Uint64, reports since start
	stop     chan struct{}
	janitor  sync.WaitGroup
	closeErr error
	closed   sync.Once
}

// Open opens the embedded store in cfg.DataDir and returns a Moderator over it.
func Open(cfg Config, log *slog.Logger) (*Moderator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("moderation: %w", err)
	}
	store, err := OpenBolt(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	m, err := New(cfg, store, log)
	if err != nil {
		store.Close()
		return nil, err
	}
	return m, nil
}

// New returns a Moderator over store, loading its bans into memory and
// expiring what is past retention. Close closes store.
func New(cfg Config, store Store, log *slog.Logger) (*Moderator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("moderation: %w", err)
	}
	m := newModerator(cfg, store, log)
	if err := m.expire(); err != nil {
		return nil, err
	}
	if err := m.loadBans(); err != nil {
		return nil, err
	}
	m.loadStatic()
	if err := m.loadReputation(); err != nil {
		return nil, err
	}
	m.startJanitor()
	return m, nil
}

func newModerator(cfg Config, store Store, log *slog.Logger) *Moderator {
	return &Moderator{
		cfg: cfg, log: log, store: store, rep: newReputation(), apart: newApartness(),
		index: newBanIndex(), records: map[string]Ban{}, stop: make(chan struct{}),
	}
}

// startJanitor starts the retention janitor, which Close stops.
func (m *Moderator) startJanitor() {
	m.janitor.Add(1)
	go m.runJanitor(janitorEvery)
}

// loadBans fills the index from the store.
func (m *Moderator) loadBans() error {
	bans, err := m.store.Bans()
	if err != nil {
		return err
	}
	for _, b := range bans {
		t, err := ParseTarget(b.Target)
		if err != nil {
			return fmt.Errorf("load bans: %w", err)
		}
		m.records[b.Target] = b
		m.reindexLocked(t)
	}
	m.log.Info("moderation store open", "dir", m.cfg.DataDir, "bans", len(bans), "staticBans", len(m.cfg.StaticBans))
	return nil
}

// loadStatic puts the configuration's bans in the index.
func (m *Moderator) loadStatic() {
	forever := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.cfg.StaticBans {
		t, _ := ParseTarget(s) // checked by Validate
		b := Ban{Target: t.String(), Reason: "banned by the operator", Until: forever, By: ByConfig}
		m.static = append(m.static, b)
		m.index.put(t, b)
	}
}

// reindexLocked puts in the index what keeps t out now: its stored record,
// unless a static ban of the same target (which never ends) takes its place.
// Called with mu held for writing.
func (m *Moderator) reindexLocked(t Target) {
	key := t.String()
	for _, b := range m.static {
		if b.Target == key {
			m.index.put(t, b)
			return
		}
	}
	if b, ok := m.records[key]; ok {
		m.index.put(t, b)
		return
	}
	m.index.remove(t)
}

// Close stops the retention janitor and closes the store.
func (m *Moderator) Close() error {
	m.closed.Do(func() {
		close(m.stop)
		m.janitor.Wait()
		m.closeErr = m.store.Close()
		if m.held != nil {
			m.closeErr = errors.Join(m.closeErr, m.held.Close())
		}
	})
	return m.closeErr
}

// OnBan registers fn to be called (outside any lock) with every ban that
// comes into force, automatic or by an operator, so that sessions of the
// banned client can be ended. Register before the Moderator is used.
func (m *Moderator) OnBan(fn func(Ban)) {
	m.mu.Lock()
	m.onBan = append(m.onBan, fn)
	m.mu.Unlock()
}

// Check returns the ban that keeps out a client of this IP and identity
// ("" when tokens are off), if any.
func (m *Moderator) Check(ip, identity string) (Ban, bool) {
	addr, _ := netip.ParseAddr(ip)
	now := m.cfg.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.index.find(addr, identity, now)
}

// StoredIP is how reports record ip: the IP itself, or its keyed hash when
// Config.IPHashKey is set. Filters on reports take this form.
func (m *Moderator) StoredIP(ip string) string {
	if m.cfg.IPHashKey == "" || ip == "" {
		return ip
	}
	key := clientKey(ip)
	if key == "" {
		key = ip
	}
	mac := hmac.New(sha256.New, []byte(m.cfg.IPHashKey))
	mac.Write([]byte(key))
	return "hmac:" + hex.EncodeToString(mac.Sum(nil)[:16])
}

// subjectKey is what reports about a client are counted under: its
// identity when it has one, else its address key (hashed like StoredIP).
func (m *Moderator) subjectKey(ip, identity string) string {
	if identity != "" {
		return identityPrefix + identity
	}
	key := clientKey(ip)
	if key == "" {
		key = ip
	}
	return m.StoredIP(key)
}

// Stats are the Moderator's figures for metrics.
type Stats struct {
	ReportsByReason map[string]uint64 // reports stored since start
	BansActive      int               // bans in force now, static ones included
}

// Stats returns the current figures.
func (m *Moderator) Stats() Stats {
	st := Stats{ReportsByReason: map[string]uint64{}}
	for _, r := range Reasons {
		st.ReportsByReason[r] = 0
	}
	m.reports.Range(func(k, v any) bool {
		st.ReportsByReason[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	now := m.cfg.now()
	m.mu.RLock()
	st.BansActive = m.index.count(now)
	m.mu.RUnlock()
	return st
}

func (m *Moderator) countReport(reason string) {
	v, _ := m.reports.LoadOrStore(reason, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

// Bans lists the bans in force now (static ones included), ending soonest first.
func (m *Moderator) Bans() []Ban {
	now := m.cfg.now()
	out := []Ban{}
	m.mu.RLock()
	for _, b := range m.records {
		if b.Active(now) {
			out = append(out, b)
		}
	}
	m.mu.RUnlock()
	out = append(out, m.static...)
	sort.Slice(out, func(i, j int) bool { return out[i].Until.Before(out[j].Until) })
	return out
}

// Reports lists reports, newest first.
func (m *Moderator) Reports(f ReportFilter) ([]Report, error) {
	if f.IP != "" {
		f.IP = m.StoredIP(f.IP)
	}
	return m.store.Reports(f)
}

// Report returns one report, or an error wrapping ErrNotFound.
func (m *Moderator) Report(id string) (Report, error) { return m.store.Report(id) }

// Audit lists audit entries, newest first.
func (m *Moderator) Audit(limit int, before string) ([]AuditEntry, error) {
	return m.store.Audit(limit, before)
}

// Record appends an operator action to the audit log.
func (m *Moderator) Record(actor, action, target, detail string) error {
	return m.store.AddAudit(AuditEntry{Time: m.cfg.now().UTC(), Actor: actor, Action: action, Target: target, Detail: detail})
}

// runJanitor expires old reports and ban records every interval until Close.
func (m *Moderator) runJanitor(interval time.Duration) {
	defer m.janitor.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			if err := m.expire(); err != nil {
				m.log.Error("moderation retention", "err", err)
			}
		}
	}
}

// expire deletes reports older than the retention, and ban records that
// ended longer ago than that.
func (m *Moderator) expire() error {
	cutoff := m.cfg.now().Add(-m.cfg.Retention)
	n, err := m.store.DeleteReportsBefore(cutoff)
	if err != nil {
		return err
	}
	if n > 0 {
		m.log.Info("expired old reports", "count", n)
	}
	m.mu.Lock()
	var old []string
	for target, b := range m.records {
		if b.Until.Before(cutoff) {
			old = append(old, target)
		}
	}
	m.mu.Unlock()
	for _, target := range old {
		if err := m.store.DeleteBan(target); err != nil {
			return err
		}
		t, _ := ParseTarget(target)
		m.mu.Lock()
		delete(m.records, target)
		m.reindexLocked(t)
		m.mu.Unlock()
	}
	return nil
}
