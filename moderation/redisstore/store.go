// Package redisstore is the moderation Store that several tandem instances
// share (cluster mode): reports, ban records and the audit log in Redis,
// and a pub/sub channel on which every write is told to the other
// instances, so that each Moderator's in-memory view (ban index,
// reputation, apartness) follows the others' (Watch); and the cluster's
// counts of calls per client, behind the low-trust pool (CountCalls).
//
// Every key lives under the prefix it is given (the cluster's hash tag,
// "{tandem}"), so a Redis Cluster keeps them in one slot. It imports
// moderation and the Redis client, nothing else of tandem; the server wires
// it in cluster mode.
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tandemchat/tandem/moderation"
)

// opTimeout bounds one Store call: the Store interface has no context.
const opTimeout = 5 * time.Second

// Store is a moderation.Store in Redis. Safe for concurrent use, by any
// number of processes. Its keys (P is the prefix):
//
//	P:mod:report:seq      the last report number
//	P:mod:report:ID       a report's JSON
//	P:mod:reports         sorted set of report IDs by number
//	P:mod:by:TARGETKEY    sorted set of "NANOS ID REPORTERKEY" by time (µs), for Reporters
//	P:mod:bans            hash: ban target -> ban record JSON
//	P:mod:audit:seq       the last audit entry number
//	P:mod:audit           sorted set of audit entry JSONs by number
//	P:mod:calls:YYYYMMDD  hash: subject key -> calls made that day (CountCalls)
//
// and the channel P:mod:changes, on which each write is published.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	origin string // this process's name in the changes it publishes
}

// New returns the store under prefix in rdb for the process named origin
// (unique in the cluster: its own changes are not handed back to it by
// Watch). Close does not close rdb, which the caller owns.
func New(rdb redis.UniversalClient, prefix, origin string) *Store {
	return &Store{rdb: rdb, prefix: prefix, origin: origin}
}

func (s *Store) key(parts ...string) string {
	k := s.prefix + ":mod"
	for _, p := range parts {
		k += ":" + p
	}
	return k
}

func (s *Store) channel() string { return s.key("changes") }

func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

// seqID renders a sequence number as a fixed-width, sortable id, as the
// embedded store does.
func seqID(n int64) string { return fmt.Sprintf("%016x", n) }

// idNumber reads an id made by seqID.
func idNumber(id string) (int64, bool) {
	n, err := strconv.ParseInt(id, 16, 64)
	return n, err == nil && n > 0
}

// change is what goes on the channel: a moderation.Change and who made it.
type change struct {
	Origin string `json:"origin"`
	moderation.Change
}

// publish queues the publication of c in the transaction p.
func (s *Store) publish(cx context.Context, p redis.Pipeliner, c moderation.Change) error {
	data, err := json.Marshal(change{Origin: s.origin, Change: c})
	if err != nil {
		return err
	}
	p.Publish(cx, s.channel(), data)
	return nil
}

// PutBan implements moderation.Store.
func (s *Store) PutBan(b moderation.Ban) error {
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("store ban %s: %w", b.Target, err)
	}
	cx, cancel := ctx()
	defer cancel()
	_, err = s.rdb.TxPipelined(cx, func(p redis.Pipeliner) error {
		p.HSet(cx, s.key("bans"), b.Target, data)
		return s.publish(cx, p, moderation.Change{Ban: &b})
	})
	if err != nil {
		return fmt.Errorf("store ban %s: %w", b.Target, err)
	}
	return nil
}

// putStrike stores a ban record (ARGV[2]) for target ARGV[1] in the bans
// hash KEYS[1] and publishes the change ARGV[4] on channel KEYS[2], unless
// the record there counts ARGV[3] strikes or more. It returns 1 when it
// stored the ban.
var putStrike = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local ok, b = pcall(cjson.decode, cur)
  if ok and type(b) == 'table' and tonumber(b.strikes or 0) >= tonumber(ARGV[3]) then
    return 0
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', KEYS[2], ARGV[4])
return 1
`)

// PutStrike implements moderation.StrikeStore: of two instances that store
// the same strike of an automatic ban at once, one stores it.
func (s *Store) PutStrike(b moderation.Ban) (bool, error) {
	data, err := json.Marshal(b)
	if err != nil {
		return false, fmt.Errorf("store ban %s: %w", b.Target, err)
	}
	told, err := json.Marshal(change{Origin: s.origin, Change: moderation.Change{Ban: &b}})
	if err != nil {
		return false, fmt.Errorf("store ban %s: %w", b.Target, err)
	}
	cx, cancel := ctx()
	defer cancel()
	stored, err := putStrike.Run(cx, s.rdb, []string{s.key("bans"), s.channel()}, b.Target, data, b.Strikes, told).Int()
	if err != nil {
		return false, fmt.Errorf("store ban %s: %w", b.Target, err)
	}
	return stored == 1, nil
}

var _ moderation.StrikeStore = (*Store)(nil)

// DeleteBan implements moderation.Store.
func (s *Store) DeleteBan(target string) error {
	cx, cancel := ctx()
	defer cancel()
	_, err := s.rdb.TxPipelined(cx, func(p redis.Pipeliner) error {
		p.HDel(cx, s.key("bans"), target)
		return s.publish(cx, p, moderation.Change{BanDeleted: target})
	})
	if err != nil {
		return fmt.Errorf("delete ban %s: %w", target, err)
	}
	return nil
}

// Bans implements moderation.Store; the records come sorted by target.
func (s *Store) Bans() ([]moderation.Ban, error) {
	cx, cancel := ctx()
	defer cancel()
	all, err := s.rdb.HGetAll(cx, s.key("bans")).Result()
	if err != nil {
		return nil, fmt.Errorf("load bans: %w", err)
	}
	out := make([]moderation.Ban, 0, len(all))
	for target, v := range all {
		var b moderation.Ban
		if err := json.Unmarshal([]byte(v), &b); err != nil {
			return nil, fmt.Errorf("load bans: ban %s: %w", target, err)
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out, nil
}

// AddAudit implements moderation.Store.
func (s *Store) AddAudit(e moderation.AuditEntry) error {
	cx, cancel := ctx()
	defer cancel()
	n, err := s.rdb.Incr(cx, s.key("audit", "seq")).Result()
	if err != nil {
		return fmt.Errorf("store audit entry: %w", err)
	}
	e.ID = seqID(n)
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("store audit entry: %w", err)
	}
	if err := s.rdb.ZAdd(cx, s.key("audit"), redis.Z{Score: float64(n), Member: data}).Err(); err != nil {
		return fmt.Errorf("store audit entry: %w", err)
	}
	return nil
}

// Audit implements moderation.Store.
func (s *Store) Audit(limit int, before string) ([]moderation.AuditEntry, error) {
	if limit <= 0 {
		limit = 50
	}
	start := "+inf"
	if before != "" {
		n, ok := idNumber(before)
		if !ok {
			return []moderation.AuditEntry{}, nil
		}
		start = "(" + strconv.FormatInt(n, 10)
	}
	cx, cancel := ctx()
	defer cancel()
	vs, err := s.rdb.ZRevRangeByScore(cx, s.key("audit"), &redis.ZRangeBy{Max: start, Min: "-inf", Count: int64(limit)}).Result()
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	out := make([]moderation.AuditEntry, 0, len(vs))
	for _, v := range vs {
		var e moderation.AuditEntry
		if err := json.Unmarshal([]byte(v), &e); err != nil {
			return nil, fmt.Errorf("list audit log: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// Close implements moderation.Store; the Redis client stays open.
func (s *Store) Close() error { return nil }

// notFound wraps moderation.ErrNotFound for what.
func notFound(what string) error { return fmt.Errorf("%s: %w", what, moderation.ErrNotFound) }

var _ moderation.Store = (*Store)(nil)

var errBadIndex = errors.New("bad reporter index entry")
