package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tandemchat/tandem/moderation"
)

// scanBatch is how many reports Reports and DeleteReportsBefore read per
// round trip.
const scanBatch = 200

func (s *Store) reportKey(id string) string { return s.key("report", id) }

// reporterEntry is a member of P:mod:by:TARGETKEY: the report's time in
// nanoseconds, its id and its reporter key (none of which holds a space
// but the last, which comes last).
func reporterEntry(r moderation.Report) string {
	return strconv.FormatInt(r.Time.UnixNano(), 10) + " " + r.ID + " " + r.ReporterKey
}

// AddReport implements moderation.Store.
func (s *Store) AddReport(r moderation.Report) (moderation.Report, error) {
	cx, cancel := ctx()
	defer cancel()
	n, err := s.rdb.Incr(cx, s.key("report", "seq")).Result()
	if err != nil {
		return moderation.Report{}, fmt.Errorf("store report: %w", err)
	}
	r.ID = seqID(n)
	data, err := json.Marshal(r)
	if err != nil {
		return moderation.Report{}, fmt.Errorf("store report: %w", err)
	}
	told := moderation.Report{ID: r.ID, TargetKey: r.TargetKey, ReporterKey: r.ReporterKey, ReporterSubject: r.ReporterSubject}
	_, err = s.rdb.TxPipelined(cx, func(p redis.Pipeliner) error {
		p.Set(cx, s.reportKey(r.ID), data, 0)
		p.ZAdd(cx, s.key("reports"), redis.Z{Score: float64(n), Member: r.ID})
		p.ZAdd(cx, s.key("by", r.TargetKey), redis.Z{Score: float64(r.Time.UnixMicro()), Member: reporterEntry(r)})
		return s.publish(cx, p, moderation.Change{Report: &told})
	})
	if err != nil {
		return moderation.Report{}, fmt.Errorf("store report: %w", err)
	}
	return r, nil
}

// Report implements moderation.Store.
func (s *Store) Report(id string) (moderation.Report, error) {
	cx, cancel := ctx()
	defer cancel()
	data, err := s.rdb.Get(cx, s.reportKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return moderation.Report{}, notFound("read report " + id)
	}
	if err != nil {
		return moderation.Report{}, fmt.Errorf("read report %s: %w", id, err)
	}
	var r moderation.Report
	if err := json.Unmarshal(data, &r); err != nil {
		return moderation.Report{}, fmt.Errorf("read report %s: %w", id, err)
	}
	return r, nil
}

// UpdateReport implements moderation.Store.
func (s *Store) UpdateReport(r moderation.Report) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("update report %s: %w", r.ID, err)
	}
	cx, cancel := ctx()
	defer cancel()
	ok, err := s.rdb.SetXX(cx, s.reportKey(r.ID), data, redis.KeepTTL).Result()
	if err != nil {
		return fmt.Errorf("update report %s: %w", r.ID, err)
	}
	if !ok {
		return notFound("update report " + r.ID)
	}
	return nil
}

// Reports implements moderation.Store. Like the embedded store it reads
// from the newest report back (a batch per round trip), so a page costs
// what it skips plus what it returns.
func (s *Store) Reports(f moderation.ReportFilter) ([]moderation.Report, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	out := []moderation.Report{}
	max := "+inf"
	if f.Before != "" {
		n, ok := idNumber(f.Before)
		if !ok {
			return out, nil
		}
		max = "(" + strconv.FormatInt(n, 10)
	}
	cx, cancel := ctx()
	defer cancel()
	for offset := int64(0); len(out) < limit; offset += scanBatch {
		batch, read, err := s.reportBatch(cx, max, offset)
		if err != nil {
			return nil, fmt.Errorf("list reports: %w", err)
		}
		for _, r := range batch {
			if !f.Since.IsZero() && r.Time.Before(f.Since) {
				return out, nil // older ones are older still
			}
			if f.Matches(r) {
				out = append(out, r)
				if len(out) == limit {
					break
				}
			}
		}
		if read < scanBatch {
			break
		}
	}
	return out, nil
}

// reportBatch reads up to scanBatch reports with numbers up to max, newest
// first, skipping offset of them, and says how many ids it read. An id
// whose report is gone (deleted between the two reads) is left out.
func (s *Store) reportBatch(cx context.Context, max string, offset int64) ([]moderation.Report, int, error) {
	ids, err := s.rdb.ZRevRangeByScore(cx, s.key("reports"), &redis.ZRangeBy{Max: max, Min: "-inf", Offset: offset, Count: scanBatch}).Result()
	if err != nil || len(ids) == 0 {
		return nil, 0, err
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.reportKey(id)
	}
	vs, err := s.rdb.MGet(cx, keys...).Result()
	if err != nil {
		return nil, 0, err
	}
	out := make([]moderation.Report, 0, len(ids))
	for i, v := range vs {
		str, ok := v.(string)
		if !ok {
			continue
		}
		var r moderation.Report
		if err := json.Unmarshal([]byte(str), &r); err != nil {
			return nil, 0, fmt.Errorf("report %s: %w", ids[i], err)
		}
		out = append(out, r)
	}
	return out, len(ids), nil
}

// Reporters implements moderation.Store.
func (s *Store) Reporters(targetKey string, since time.Time) (map[string]bool, error) {
	cx, cancel := ctx()
	defer cancel()
	min := strconv.FormatInt(max(0, since.UnixMicro()), 10)
	vs, err := s.rdb.ZRangeByScore(cx, s.key("by", targetKey), &redis.ZRangeBy{Min: min, Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("count reporters: %w", err)
	}
	out := map[string]bool{}
	for _, v := range vs {
		nanos, _, reporter, err := splitEntry(v)
		if err != nil {
			return nil, fmt.Errorf("count reporters: %w", err)
		}
		if nanos >= since.UnixNano() {
			out[reporter] = true
		}
	}
	return out, nil
}

func splitEntry(v string) (nanos int64, id, reporter string, err error) {
	parts := strings.SplitN(v, " ", 3)
	if len(parts) != 3 {
		return 0, "", "", fmt.Errorf("%w: %q", errBadIndex, v)
	}
	nanos, err = strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return 0, "", "", fmt.Errorf("%w: %q", errBadIndex, v)
	}
	return nanos, parts[1], parts[2], nil
}

// DeleteReportsBefore implements moderation.Store: it reads from the oldest
// report on and stops at the first made at or after t (numbers grow with
// time). Several instances may run it at once: each deletion is idempotent.
func (s *Store) DeleteReportsBefore(t time.Time) (int, error) {
	cx, cancel := context.WithTimeout(context.Background(), 10*opTimeout)
	defer cancel()
	n := 0
	for {
		ids, err := s.rdb.ZRange(cx, s.key("reports"), 0, scanBatch-1).Result()
		if err != nil {
			return n, fmt.Errorf("expire reports: %w", err)
		}
		done, deleted, err := s.deleteOld(cx, ids, t)
		n += deleted
		if err != nil {
			return n, fmt.Errorf("expire reports: %w", err)
		}
		if done || len(ids) < scanBatch {
			return n, nil
		}
	}
}

// deleteOld deletes the reports of ids (oldest first) made before t, and
// reports whether it met one made at or after t.
func (s *Store) deleteOld(cx context.Context, ids []string, t time.Time) (done bool, n int, err error) {
	for _, id := range ids {
		data, err := s.rdb.Get(cx, s.reportKey(id)).Bytes()
		if err != nil && !errors.Is(err, redis.Nil) {
			return false, n, err
		}
		var r moderation.Report
		if err == nil {
			if err := json.Unmarshal(data, &r); err != nil {
				return false, n, fmt.Errorf("report %s: %w", id, err)
			}
			if !r.Time.Before(t) {
				return true, n, nil
			}
		}
		_, err = s.rdb.TxPipelined(cx, func(p redis.Pipeliner) error {
			p.ZRem(cx, s.key("reports"), id)
			p.Del(cx, s.reportKey(id))
			if r.ID != "" {
				p.ZRem(cx, s.key("by", r.TargetKey), reporterEntry(r))
			}
			return nil
		})
		if err != nil {
			return false, n, err
		}
		if r.ID != "" {
			n++
		}
	}
	return false, n, nil
}
