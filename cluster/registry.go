package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Instance is one tandem instance of the cluster as the others see it.
type Instance struct {
	ID string `json:"id"`
	// BridgeAddr is where its media bridge listens (host:port).
	BridgeAddr string    `json:"bridgeAddr"`
	StartedAt  time.Time `json:"startedAt"`
}

// Registry keeps this instance registered (a key that expires unless
// renewed: a heartbeat), lists the live instances, and notices the ones that
// died. Its methods are safe for concurrent use; Run's goroutine is owned by
// the caller, who cancels its context to end it.
type Registry struct {
	rdb    redis.UniversalClient
	prefix string
	self   Instance
	ttl    time.Duration
	log    *slog.Logger

	mu     sync.Mutex
	onDead []func(id string)
}

// NewRegistry returns the registry of the cluster under prefix for the
// instance self; an instance whose heartbeat is older than ttl is dead.
func NewRegistry(rdb redis.UniversalClient, prefix string, self Instance, ttl time.Duration, log *slog.Logger) *Registry {
	return &Registry{rdb: rdb, prefix: prefix, self: self, ttl: ttl, log: log}
}

// OnDead adds a function called once, by exactly one live instance, for each
// instance that died (its heartbeat expired): the one that noticed first
// cleans up after it. Call before Run.
func (r *Registry) OnDead(f func(id string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onDead = append(r.onDead, f)
}

func (r *Registry) aliveKey(id string) string { return r.prefix + ":alive:" + id }
func (r *Registry) setKey() string            { return r.prefix + ":instances" }

// Register announces this instance (the first heartbeat).
func (r *Registry) Register(ctx context.Context) error {
	v, err := json.Marshal(r.self)
	if err != nil {
		return fmt.Errorf("register %s: %w", r.self.ID, err)
	}
	_, err = r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.aliveKey(r.self.ID), v, r.ttl)
		p.SAdd(ctx, r.setKey(), r.self.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("register %s: %w", r.self.ID, err)
	}
	return nil
}

// Run renews the heartbeat every third of the TTL and looks for dead
// instances, until ctx ends; then it deregisters this instance (a clean
// stop is not a death). A failed heartbeat is logged and tried again; after
// one, Run looks for dead instances again only a TTL after its heartbeat
// works again: when Redis was unreachable for everyone, every heartbeat
// lapsed, and the others need that long to beat again.
func (r *Registry) Run(ctx context.Context) {
	tick := time.NewTicker(r.ttl / 3)
	defer tick.Stop()
	failed := false
	var sweepFrom time.Time // no sweeping before, after a failed heartbeat
	for {
		select {
		case <-ctx.Done():
			r.deregister()
			return
		case <-tick.C:
			if err := r.Register(ctx); err != nil {
				if ctx.Err() == nil {
					r.log.Warn("cluster heartbeat failed", "err", err)
				}
				failed = true
				continue
			}
			if failed {
				failed, sweepFrom = false, time.Now().Add(r.ttl)
			}
			if time.Now().Before(sweepFrom) {
				continue
			}
			if err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("cluster sweep failed", "err", err)
			}
		}
	}
}

func (r *Registry) deregister() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, r.aliveKey(r.self.ID))
		p.SRem(ctx, r.setKey(), r.self.ID)
		return nil
	})
	if err != nil {
		r.log.Warn("cluster deregister failed", "err", err)
	}
}

// Instances lists the live instances, this one included.
func (r *Registry) Instances(ctx context.Context) ([]Instance, error) {
	ids, err := r.rdb.SMembers(ctx, r.setKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	out := make([]Instance, 0, len(ids))
	for _, id := range ids {
		v, err := r.rdb.Get(ctx, r.aliveKey(id)).Bytes()
		if errors.Is(err, redis.Nil) {
			continue // dead: Sweep cleans up
		}
		if err != nil {
			return nil, fmt.Errorf("list instances: %w", err)
		}
		var in Instance
		if err := json.Unmarshal(v, &in); err != nil {
			return nil, fmt.Errorf("instance %s: %w", id, err)
		}
		out = append(out, in)
	}
	return out, nil
}

// Sweep finds the instances whose heartbeat expired, takes each out of the
// set and, for those this instance took out (SREM is atomic: one taker),
// calls the OnDead functions.
func (r *Registry) Sweep(ctx context.Context) error {
	ids, err := r.rdb.SMembers(ctx, r.setKey()).Result()
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	for _, id := range ids {
		alive, err := r.rdb.Exists(ctx, r.aliveKey(id)).Result()
		if err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		if alive == 1 {
			continue
		}
		took, err := r.rdb.SRem(ctx, r.setKey(), id).Result()
		if err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		if took == 1 {
			r.log.Warn("cluster instance died", "instance", id)
			r.mu.Lock()
			fs := append([]func(string){}, r.onDead...)
			r.mu.Unlock()
			for _, f := range fs {
				f(id)
			}
		}
	}
	return nil
}
