package cluster

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed queue.lua
var queueLua string

// queueScript is the queue's one script; every operation is one atomic run.
var queueScript = redis.NewScript(queueLua)

// Prefix is the default key prefix: a hash tag, so that every key of the queue
// lives in one slot of a Redis Cluster and the script may touch them all.
const Prefix = "{tandem}"

// Pool is the pool a waiting user is matched within: users are paired only
// with users of the same pool.
type Pool string

// The pools: everyone, and the low-trust pool of users whom others reported
// much more often than they called.
const (
	PoolNormal   Pool = "n"
	PoolLowTrust Pool = "l"
)

// Ticket is one user asking for a partner.
type Ticket struct {
	ID string
	// Interests are the user's tags; with some, the user is paired only with
	// someone sharing one until Open (or Open is set).
	Interests []string
	// Avoid is the partner the user just parted from: the two are paired
	// again only when nobody else waits.
	Avoid string
	// Open lets the user take anyone at once.
	Open bool
	Pool Pool
	// Info is the instance's own description of its user, handed as it is
	// to the instance that takes it (Match.PartnerInfo).
	Info string
	// Subject is who the user is for moderation (its identity, or its
	// address key), "" for none: the queue never pairs two subjects that
	// KeepApart named, in this visit or a later one.
	Subject string
}

// Match is a pair the queue made: the user whose call made it, and the
// partner who was waiting, on the instance named.
type Match struct {
	Partner         string
	PartnerInstance string
	PartnerInfo     string   // the partner's Ticket.Info
	Common          []string // interests both share; never nil
}

// ErrAlreadyWaiting is returned by Add for a user already in the queue.
var ErrAlreadyWaiting = errors.New("already waiting")

// Queue is the waiting queue all instances share. Its methods are safe for
// concurrent use, by any number of instances: each is one atomic script run.
type Queue struct {
	rdb      redis.UniversalClient
	prefix   string
	instance string
}

// NewQueue returns the queue under prefix in rdb, for the instance named
// instance (the users it adds are that instance's).
func NewQueue(rdb redis.UniversalClient, prefix, instance string) *Queue {
	return &Queue{rdb: rdb, prefix: prefix, instance: instance}
}

// Add pairs t's user at once with the longest-waiting user it may take, or
// queues it.
func (q *Queue) Add(ctx context.Context, t Ticket) (Match, bool, error) {
	pool := t.Pool
	if pool == "" {
		pool = PoolNormal
	}
	args := []any{"add", t.ID, q.instance, t.Avoid, string(pool), flag(t.Open), t.Info, t.Subject}
	for _, tag := range t.Interests {
		args = append(args, tag)
	}
	m, ok, err := q.run(ctx, args...)
	if err != nil && err.Error() == ErrAlreadyWaiting.Error() {
		err = ErrAlreadyWaiting
	}
	if err != nil {
		return Match{}, false, fmt.Errorf("queue add %s: %w", t.ID, err)
	}
	return m, ok, nil
}

// Open lets a waiting user with interests take anyone (the interest wait is
// over): it is paired with the longest-waiting open user, or stays queued as
// open. A user not waiting, or open already, is left alone.
func (q *Queue) Open(ctx context.Context, id string) (Match, bool, error) {
	m, ok, err := q.run(ctx, "open", id)
	if err != nil {
		return Match{}, false, fmt.Errorf("queue open %s: %w", id, err)
	}
	return m, ok, nil
}

// Remove takes id out of the queue and reports whether it was waiting.
func (q *Queue) Remove(ctx context.Context, id string) (bool, error) {
	n, err := queueScript.Run(ctx, q.rdb, []string{q.prefix}, "remove", id).Int()
	if err != nil {
		return false, fmt.Errorf("queue remove %s: %w", id, err)
	}
	return n == 1, nil
}

// RemoveInstance takes every user of the named instance out of the queue (an
// instance that died) and returns how many there were.
func (q *Queue) RemoveInstance(ctx context.Context, instance string) (int, error) {
	n, err := queueScript.Run(ctx, q.rdb, []string{q.prefix}, "remove_instance", instance).Int()
	if err != nil {
		return 0, fmt.Errorf("queue remove instance %s: %w", instance, err)
	}
	return n, nil
}

// Len is the number of users waiting on all instances.
func (q *Queue) Len(ctx context.Context) (int, error) {
	n, err := q.rdb.ZCard(ctx, q.prefix+":all").Result()
	if err != nil {
		return 0, fmt.Errorf("queue length: %w", err)
	}
	return int(n), nil
}

// Block makes sure a and b are never paired (until Forget of either).
func (q *Queue) Block(ctx context.Context, a, b string) error {
	if err := q.addEachOther(ctx, q.blocksKey, a, b, blockTTL); err != nil {
		return fmt.Errorf("queue block %s %s: %w", a, b, err)
	}
	return nil
}

// addEachOther adds b to a's set and a to b's (the sets keyOf names),
// both kept for ttl from now, in one transaction.
func (q *Queue) addEachOther(ctx context.Context, keyOf func(string) string, a, b string, ttl time.Duration) error {
	_, err := q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, keyOf(a), b)
		p.SAdd(ctx, keyOf(b), a)
		p.Expire(ctx, keyOf(a), ttl)
		p.Expire(ctx, keyOf(b), ttl)
		return nil
	})
	return err
}

// KeepApart makes sure the users of subjects a and b (Ticket.Subject) are
// never paired, in any visit, for ttl (0: DefaultApartFor): one reported
// the other. Each further KeepApart of a subject extends its ttl.
func (q *Queue) KeepApart(ctx context.Context, a, b string, ttl time.Duration) error {
	if a == "" || b == "" || a == b {
		return nil
	}
	if ttl <= 0 {
		ttl = DefaultApartFor
	}
	if err := q.addEachOther(ctx, q.apartKey, a, b, ttl); err != nil {
		return fmt.Errorf("queue keep apart %s %s: %w", a, b, err)
	}
	return nil
}

// DefaultApartFor is how long KeepApart keeps two subjects apart unless told:
// as long as moderation keeps reports by default.
const DefaultApartFor = 30 * 24 * time.Hour

func (q *Queue) apartKey(subject string) string { return q.prefix + ":apart:" + subject }

// Forget drops id's blocks when its visit ends.
func (q *Queue) Forget(ctx context.Context, id string) error {
	others, err := q.rdb.SMembers(ctx, q.blocksKey(id)).Result()
	if err != nil {
		return fmt.Errorf("queue forget %s: %w", id, err)
	}
	_, err = q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, o := range others {
			p.SRem(ctx, q.blocksKey(o), id)
		}
		p.Del(ctx, q.blocksKey(id))
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue forget %s: %w", id, err)
	}
	return nil
}

// blockTTL bounds how long a block outlives an instance that died before it
// could Forget: a visit is shorter.
const blockTTL = 24 * time.Hour

func (q *Queue) blocksKey(id string) string { return q.prefix + ":blocks:" + id }

// run runs an operation that answers a match or nil.
func (q *Queue) run(ctx context.Context, args ...any) (Match, bool, error) {
	v, err := queueScript.Run(ctx, q.rdb, []string{q.prefix}, args...).StringSlice()
	if errors.Is(err, redis.Nil) {
		return Match{}, false, nil
	}
	if err != nil {
		return Match{}, false, err
	}
	if len(v) < 3 {
		return Match{}, false, fmt.Errorf("the queue script answered %q", v)
	}
	return Match{Partner: v[0], PartnerInstance: v[1], PartnerInfo: v[2], Common: append([]string{}, v[3:]...)}, true, nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
