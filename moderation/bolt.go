package moderation

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// schemaVersion is the layout of the bolt file this code reads and writes.
const schemaVersion = 1

// StoreFile is the name of the embedded store's file in the data directory.
const StoreFile = "moderation.db"

var (
	bucketMeta     = []byte("meta")
	bucketReports  = []byte("reports")   // id -> Report JSON
	bucketByTarget = []byte("by_target") // targetKey \x00 unix nanos (8 bytes) id -> reporterKey
	bucketBans     = []byte("bans")      // target -> Ban JSON
	bucketAudit    = []byte("audit")     // id -> AuditEntry JSON
	keySchema      = []byte("schema")
)

// BoltStore is the embedded Store: one bbolt file under the data directory.
// Safe for concurrent use (bbolt serialises writers).
type BoltStore struct {
	db *bolt.DB
}

// OpenBolt opens (or creates) the store in dir, creating dir if missing, and
// checks or sets up its schema. A file that is locked by another process,
// corrupt, unwritable or of a newer schema is an error naming the file.
func OpenBolt(dir string) (*BoltStore, error) {
	db, err := openBoltFile(dir, StoreFile, "moderation store", migrate)
	if err != nil {
		return nil, err
	}
	return &BoltStore{db: db}, nil
}

// openBoltFile opens (or creates) the bbolt file name in dir, creating dir if
// missing, and runs setup in a write transaction. Its errors start with what
// and the file's path, and tell a file locked by another process apart.
func openBoltFile(dir, name, what string, setup func(*bolt.Tx) error) (*bolt.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%s: create data directory: %w", what, err)
	}
	path := filepath.Join(dir, name)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("%s %s: locked by another process (is another tandem using this data directory?)", what, path)
		}
		return nil, fmt.Errorf("%s %s: cannot open (unwritable or corrupt?): %w", what, path, err)
	}
	if err := db.Update(setup); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return db, nil
}

// migrate creates the buckets of a new file and checks the schema version
// of an existing one.
func migrate(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return fmt.Errorf("create buckets: %w", err)
	}
	if v := meta.Get(keySchema); v != nil {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 {
			return fmt.Errorf("schema version %q is not valid: the file is corrupt", v)
		}
		if n > schemaVersion {
			return fmt.Errorf("schema version %d is newer than this tandem reads (%d)", n, schemaVersion)
		}
	}
	for _, name := range [][]byte{bucketReports, bucketByTarget, bucketBans, bucketAudit} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return meta.Put(keySchema, []byte(strconv.Itoa(schemaVersion)))
}

// Close closes the file.
func (s *BoltStore) Close() error { return s.db.Close() }

// seqID renders a bucket sequence number as a fixed-width, sortable id.
func seqID(n uint64) string { return fmt.Sprintf("%016x", n) }

// targetIndexKey is a by_target key: target, a zero byte, the time, the id.
func targetIndexKey(target string, at time.Time, id string) []byte {
	k := make([]byte, 0, len(target)+1+8+len(id))
	k = append(k, target...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, uint64(at.UnixNano()))
	return append(k, id...)
}

// AddReport implements Store.
func (s *BoltStore) AddReport(r Report) (Report, error) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReports)
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		r.ID = seqID(n)
		data, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(r.ID), data); err != nil {
			return err
		}
		return tx.Bucket(bucketByTarget).Put(targetIndexKey(r.TargetKey, r.Time, r.ID), []byte(r.ReporterKey))
	})
	if err != nil {
		return Report{}, fmt.Errorf("store report: %w", err)
	}
	return r, nil
}

// Report implements Store.
func (s *BoltStore) Report(id string) (Report, error) {
	var r Report
	err := s.db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(bucketReports).Get([]byte(id))
		if data == nil {
			return ErrNotFound
		}
		return json.Unmarshal(data, &r)
	})
	if err != nil {
		return Report{}, fmt.Errorf("read report %s: %w", id, err)
	}
	return r, nil
}

// UpdateReport implements Store.
func (s *BoltStore) UpdateReport(r Report) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReports)
		if b.Get([]byte(r.ID)) == nil {
			return ErrNotFound
		}
		data, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return b.Put([]byte(r.ID), data)
	})
	if err != nil {
		return fmt.Errorf("update report %s: %w", r.ID, err)
	}
	return nil
}

// Reports implements Store. It scans from the newest report back, so a
// page costs what it skips plus what it returns.
func (s *BoltStore) Reports(f ReportFilter) ([]Report, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	out := []Report{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketReports).Cursor()
		k, v := c.Last()
		if f.Before != "" {
			k, v = c.Seek([]byte(f.Before))
			if k == nil {
				k, v = c.Last()
			}
			for k != nil && string(k) >= f.Before {
				k, v = c.Prev()
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			var r Report
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("report %s: %w", k, err)
			}
			if !f.Since.IsZero() && r.Time.Before(f.Since) {
				break // older ones are older still
			}
			if f.Matches(r) {
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list reports: %w", err)
	}
	return out, nil
}

// Matches checks every field of f but Since, Before and Limit, which a
// Store applies as it walks its reports.
func (f ReportFilter) Matches(r Report) bool {
	switch {
	case f.Reason != "" && r.Reason != f.Reason,
		f.Status != "" && r.Status != f.Status,
		f.UserID != "" && r.Reporter.UserID != f.UserID && r.Reported.UserID != f.UserID,
		f.IP != "" && r.Reporter.IP != f.IP && r.Reported.IP != f.IP,
		!f.Until.IsZero() && !r.Time.Before(f.Until):
		return false
	}
	return true
}

// Reporters implements Store.
func (s *BoltStore) Reporters(targetKey string, since time.Time) (map[string]bool, error) {
	out := map[string]bool{}
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := append([]byte(targetKey), 0)
		c := tx.Bucket(bucketByTarget).Cursor()
		start := binary.BigEndian.AppendUint64(bytes.Clone(prefix), uint64(max(0, since.UnixNano())))
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			out[string(v)] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count reporters: %w", err)
	}
	return out, nil
}

// DeleteReportsBefore implements Store.
func (s *BoltStore) DeleteReportsBefore(t time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketReports).Cursor()
		idx := tx.Bucket(bucketByTarget)
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var r Report
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("report %s: %w", k, err)
			}
			if !r.Time.Before(t) {
				break // ids grow with time
			}
			if err := idx.Delete(targetIndexKey(r.TargetKey, r.Time, r.ID)); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("expire reports: %w", err)
	}
	return n, nil
}

// PutBan implements Store.
func (s *BoltStore) PutBan(b Ban) error {
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("store ban %s: %w", b.Target, err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBans).Put([]byte(b.Target), data)
	}); err != nil {
		return fmt.Errorf("store ban %s: %w", b.Target, err)
	}
	return nil
}

// DeleteBan implements Store.
func (s *BoltStore) DeleteBan(target string) error {
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBans).Delete([]byte(target))
	}); err != nil {
		return fmt.Errorf("delete ban %s: %w", target, err)
	}
	return nil
}

// Bans implements Store.
func (s *BoltStore) Bans() ([]Ban, error) {
	var out []Ban
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBans).ForEach(func(k, v []byte) error {
			var b Ban
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("ban %s: %w", k, err)
			}
			out = append(out, b)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load bans: %w", err)
	}
	return out, nil
}

// AddAudit implements Store.
func (s *BoltStore) AddAudit(e AuditEntry) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		e.ID = seqID(n)
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		return b.Put([]byte(e.ID), data)
	})
	if err != nil {
		return fmt.Errorf("store audit entry: %w", err)
	}
	return nil
}

// Audit implements Store.
func (s *BoltStore) Audit(limit int, before string) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = 50
	}
	out := []AuditEntry{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			if before != "" && string(k) >= before {
				continue
			}
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("audit entry %s: %w", k, err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	return out, nil
}
