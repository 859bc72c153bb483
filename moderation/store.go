package moderation

import (
	"errors"
	"time"
)

// ErrNotFound is returned for an id or target the store does not hold.
var ErrNotFound = errors.New("not found")

// Store keeps reports, ban records and the audit log. The embedded
// implementation is BoltStore; a shared one (for several tandem instances)
// can replace it. Implementations must be safe for concurrent use, and must
// return an error rather than drop a write.
type Store interface {
	// AddReport stores r, giving it a new ID (newer reports get greater IDs).
	AddReport(r Report) (Report, error)
	// Report returns one report, or ErrNotFound.
	Report(id string) (Report, error)
	// Reports lists the reports f selects, newest first.
	Reports(f ReportFilter) ([]Report, error)
	// UpdateReport replaces the stored report with the same ID, or returns ErrNotFound.
	UpdateReport(r Report) error
	// Reporters returns the distinct reporter keys of reports with this
	// target key made at or after since.
	Reporters(targetKey string, since time.Time) (map[string]bool, error)
	// DeleteReportsBefore deletes reports made before t, returning how many.
	DeleteReportsBefore(t time.Time) (int, error)

	// PutBan stores a ban record, replacing the one of the same target.
	PutBan(b Ban) error
	// DeleteBan removes a ban record.
	DeleteBan(target string) error
	// Bans returns every ban record, active or not.
	Bans() ([]Ban, error)

	// AddAudit appends an entry to the audit log, giving it an ID.
	AddAudit(e AuditEntry) error
	// Audit lists up to limit entries older than before ("" for the newest), newest first.
	Audit(limit int, before string) ([]AuditEntry, error)

	// Close releases the store.
	Close() error
}

// StrikeStore is a Store shared by several processes that stores an
// automatic ban only if no process stored that strike first: two processes
// that decide the same automatic ban at the same moment then ban once, and
// the audit log tells it once. The Moderator uses it when its store has it.
type StrikeStore interface {
	// PutStrike stores b unless the record of b.Target already counts
	// b.Strikes strikes or more, and reports whether it stored b.
	PutStrike(b Ban) (bool, error)
}
