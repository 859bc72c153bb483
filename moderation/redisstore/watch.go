package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tandemchat/tandem/moderation"
)

// watchPing is how long Watch waits for a message before it pings Redis, so
// that a connection that died silently is noticed and made again.
const watchPing = 5 * time.Second

// Watch hands apply every change the other processes make to the store, in
// the order Redis published them, until ctx ends. Whenever it (re)subscribes
// (at start, and after the connection to Redis was lost, since changes
// published meanwhile were not told) it calls resync first, which should
// read the whole store again (moderation.Moderator.Resync, which first stores the reports held meanwhile); a resync that
// fails is tried again at the next ping. The caller owns the goroutine.
func (s *Store) Watch(ctx context.Context, apply func(moderation.Change), resync func() error, log *slog.Logger) {
	ps := s.rdb.Subscribe(ctx, s.channel())
	defer ps.Close()
	stop := context.AfterFunc(ctx, func() { ps.Close() }) // ends a receive under way
	defer stop()
	stale := true // changes may have been missed: resync at the next chance
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, watchPing)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				s.ping(ctx, ps, log)
				stale = stale && !s.resync(resync, log)
				continue
			}
			if !stale {
				log.Warn("moderation changes: lost Redis; reloading when it answers", "err", err)
			}
			stale = true
			pause(ctx, time.Second)
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			stale = !s.resync(resync, log)
		case *redis.Message:
			s.handle(m.Payload, apply, log)
		}
	}
}

// resync calls resync and reports whether it worked.
func (s *Store) resync(resync func() error, log *slog.Logger) bool {
	if err := resync(); err != nil {
		log.Warn("moderation changes: reload failed; trying again", "err", err)
		return false
	}
	return true
}

// ping asks Redis for a pong on the subscription's connection; a dead
// connection fails the next receive, which makes it again.
func (s *Store) ping(ctx context.Context, ps *redis.PubSub, log *slog.Logger) {
	if err := ps.Ping(ctx); err != nil && ctx.Err() == nil {
		log.Debug("moderation changes: ping failed", "err", err)
	}
}

// handle decodes one published change and applies it unless this process
// made it.
func (s *Store) handle(payload string, apply func(moderation.Change), log *slog.Logger) {
	var c change
	if err := json.Unmarshal([]byte(payload), &c); err != nil {
		log.Warn("moderation changes: undecodable change skipped", "err", err)
		return
	}
	if c.Origin == s.origin {
		return
	}
	apply(c.Change)
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
