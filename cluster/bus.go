package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Message is what one instance tells another about a user: partner_found,
// chat, typing, partner_left, a report, an admin operation. Data is the
// instance's own business (signaling's wire data, say).
type Message struct {
	Type string          `json:"type"`
	To   string          `json:"to"`   // the user it is for
	From string          `json:"from"` // the user it is from, if any
	Data json.RawMessage `json:"data,omitempty"`
}

// Bus carries Messages to the instance holding a user. Each instance reads
// a Redis stream of its own, in order, from where it left off: a busy
// instance reads its messages late but loses none and reads none twice.
// Send is safe for concurrent use; Run's goroutine is owned by the caller.
type Bus struct {
	rdb      redis.UniversalClient
	prefix   string
	instance string
	log      *slog.Logger
}

// busMaxLen bounds each instance's stream: older messages are trimmed, so a
// dead instance's stream does not grow (its last messages expire too).
const busMaxLen = 10000

// busTTL is how long a stream outlives its last message.
const busTTL = 10 * time.Minute

// NewBus returns the bus of the cluster under prefix for this instance. An
// instance's id is new with each process (a restarted instance is a new
// one), so its stream holds only messages meant for this process.
func NewBus(rdb redis.UniversalClient, prefix, instance string, log *slog.Logger) *Bus {
	return &Bus{rdb: rdb, prefix: prefix, instance: instance, log: log}
}

func (b *Bus) streamKey(instance string) string { return b.prefix + ":bus:" + instance }

// Send queues m for the instance named.
func (b *Bus) Send(ctx context.Context, instance string, m Message) error {
	v, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("bus send %s: %w", m.Type, err)
	}
	key := b.streamKey(instance)
	_, err = b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: key, MaxLen: busMaxLen, Approx: true, Values: []any{"m", v}})
		p.Expire(ctx, key, busTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("bus send %s to %s: %w", m.Type, instance, err)
	}
	return nil
}

// Run hands this instance's messages to handle, one at a time and in the
// order they were sent, until ctx ends, starting with the first ever sent
// to this instance (none is lost between NewBus and Run). A read that fails (Redis unreachable) is retried
// after a pause; a message that does not decode is logged and skipped.
func (b *Bus) Run(ctx context.Context, handle func(Message)) {
	last := "0"
	for ctx.Err() == nil {
		res, err := b.rdb.XRead(ctx, &redis.XReadArgs{
			Streams: []string{b.streamKey(b.instance), last}, Count: 100, Block: time.Second,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				b.log.Warn("cluster bus read failed", "err", err)
				pause(ctx, time.Second)
			}
			continue
		}
		for _, s := range res {
			for _, x := range s.Messages {
				last = x.ID
				var m Message
				raw, _ := x.Values["m"].(string)
				if err := json.Unmarshal([]byte(raw), &m); err != nil {
					b.log.Warn("cluster bus: undecodable message skipped", "id", x.ID, "err", err)
					continue
				}
				handle(m)
			}
		}
	}
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
