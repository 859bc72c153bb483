package moderation

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// This file keeps the reports a shared store could not take (in cluster
// mode, while Redis is unreachable): the instance holds them in a file of
// its own and stores them when the shared store answers again, so that a
// report made during an outage is neither refused nor lost.

// HeldFile is the name of the held reports' file in the data directory.
const HeldFile = "held-reports.db"

// HeldPrefix starts the provisional id of a held report, which the
// reporter is told instead of the stored report's id.
const HeldPrefix = "held-"

// maxHeld bounds the reports an instance holds; past it, a report the
// shared store refuses is refused (report_failed).
const maxHeld = 10_000

var bucketHeld = []byte("held") // provisional id -> heldReport JSON

// Held is the file of reports held for a shared store. Safe for concurrent
// use (bbolt serialises writers).
type Held struct {
	db *bolt.DB
}

// heldReport is one held report and what its automatic ban would apply to
// (a Target's string, "" for none): the ban is decided once it is stored.
type heldReport struct {
	Report Report `json:"report"`
	Target string `json:"target,omitempty"`
}

// OpenHeld opens (or creates) the held reports' file in dir, creating dir
// if missing. A file another process holds is an error naming it.
func OpenHeld(dir string) (*Held, error) {
	db, err := openBoltFile(dir, HeldFile, "held reports", func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketHeld)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Held{db: db}, nil
}

// add holds hr and returns its provisional id (HeldPrefix and a number).
func (h *Held) add(hr heldReport) (string, error) {
	var id string
	err := h.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHeld)
		if b.Stats().KeyN >= maxHeld {
			return fmt.Errorf("%d reports held already", maxHeld)
		}
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		id = HeldPrefix + seqID(n)
		hr.Report.ID = id
		data, err := json.Marshal(hr)
		if err != nil {
			return err
		}
		return b.Put([]byte(id), data)
	})
	if err != nil {
		return "", fmt.Errorf("hold report: %w", err)
	}
	return id, nil
}

// list returns the held reports, oldest first (their Report.ID is the
// provisional id).
func (h *Held) list() ([]heldReport, error) {
	var out []heldReport
	err := h.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHeld).ForEach(func(_, v []byte) error {
			var hr heldReport
			if err := json.Unmarshal(v, &hr); err != nil {
				return err
			}
			out = append(out, hr)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read held reports: %w", err)
	}
	return out, nil
}

// remove forgets the held report of provisional id.
func (h *Held) remove(id string) error {
	return h.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketHeld).Delete([]byte(id)) })
}

// Len returns how many reports are held.
func (h *Held) Len() int {
	n := 0
	_ = h.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bucketHeld).Stats().KeyN; return nil })
	return n
}

// Close closes the file.
func (h *Held) Close() error { return h.db.Close() }

// hold keeps r, which the store refused, for StoreHeld, and counts it as
// File counts a stored report; it returns r with its provisional id. Without
// a held file (a store of one's own), the error stands.
func (m *Moderator) hold(r Report, target string, refused error) (Report, error) {
	if m.held == nil {
		return Report{}, refused
	}
	id, err := m.held.add(heldReport{Report: r, Target: target})
	if err != nil {
		return Report{}, fmt.Errorf("%w (and %w)", refused, err)
	}
	r.ID = id
	m.log.Warn("report held until the shared store answers", "held", id, "target", r.TargetKey, "err", refused)
	return r, nil
}

// HeldReports returns how many reports wait to be stored in the shared store.
func (m *Moderator) HeldReports() int {
	if m.held == nil {
		return 0
	}
	return m.held.Len()
}

// StoreHeld writes the held reports to the store, oldest first, and decides
// each one's automatic ban as File would have; it stops at the first the
// store refuses (to go on at the next call). Safe for concurrent use.
func (m *Moderator) StoreHeld() error {
	if m.held == nil {
		return nil
	}
	m.heldMu.Lock()
	defer m.heldMu.Unlock()
	held, err := m.held.list()
	if err != nil {
		return err
	}
	for _, hr := range held {
		r := hr.Report
		r.ID = ""
		stored, err := m.store.AddReport(r)
		if err != nil {
			return fmt.Errorf("store held report %s: %w", hr.Report.ID, err)
		}
		if err := m.held.remove(hr.Report.ID); err != nil {
			// Stored twice if this instance restarts before it forgets it.
			m.log.Error("held report stored but not forgotten", "held", hr.Report.ID, "report", stored.ID, "err", err)
		}
		m.log.Info("held report stored", "held", hr.Report.ID, "report", stored.ID)
		if _, err := m.autoBan(stored, hr.Target); err != nil {
			m.log.Error("automatic ban not stored", "report", stored.ID, "target", stored.TargetKey, "err", err)
		}
	}
	return nil
}

// Resync stores the held reports, then reads the shared store again
// (Reload): what a shared store's watcher calls when it (re)connects.
func (m *Moderator) Resync() error {
	if err := m.StoreHeld(); err != nil {
		return err
	}
	return m.Reload()
}

// countHeld adds the held reports to counts and apart, read from the store
// without them.
func (m *Moderator) countHeld(counts map[string]int, apart *apartness) error {
	if m.held == nil {
		return nil
	}
	held, err := m.held.list()
	if err != nil {
		return err
	}
	for _, hr := range held {
		counts[hr.Report.TargetKey]++
		apart.add(reporterSubject(hr.Report), hr.Report.TargetKey)
	}
	return nil
}
