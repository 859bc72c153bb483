package redisstore

import (
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxCallDays bounds how many daily counts CountCalls reads.
const maxCallDays = 366

// callsKey is the hash of the calls made on day (UTC): subject key -> calls.
func (s *Store) callsKey(day time.Time) string {
	return s.key("calls", day.UTC().Format("20060102"))
}

// CountCalls is a moderation.CallCounter: it adds deltas to today's counts
// (P:mod:calls:YYYYMMDD, kept for keep and a day) and returns, for each
// subject of watch, its calls over the days keep spans, today included.
// Several instances may call it at once.
func (s *Store) CountCalls(deltas map[string]int, watch []string, keep time.Duration) (map[string]int, error) {
	cx, cancel := ctx()
	defer cancel()
	now := time.Now()
	days := min(max(1, int((keep+24*time.Hour-1)/(24*time.Hour))), maxCallDays)
	var reads []*redis.SliceCmd
	_, err := s.rdb.Pipelined(cx, func(p redis.Pipeliner) error {
		if len(deltas) > 0 {
			today := s.callsKey(now)
			for key, n := range deltas {
				p.HIncrBy(cx, today, key, int64(n))
			}
			p.Expire(cx, today, keep+24*time.Hour)
		}
		if len(watch) > 0 {
			for d := range days {
				reads = append(reads, p.HMGet(cx, s.callsKey(now.AddDate(0, 0, -d)), watch...))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count calls: %w", err)
	}
	totals := make(map[string]int, len(watch))
	for _, key := range watch {
		totals[key] = 0
	}
	for _, r := range reads {
		for i, v := range r.Val() {
			str, ok := v.(string)
			if !ok {
				continue
			}
			n, err := strconv.Atoi(str)
			if err != nil {
				return nil, fmt.Errorf("count calls: %s: %q is not a number", watch[i], str)
			}
			totals[watch[i]] += n
		}
	}
	return totals, nil
}
