// Command tandem-load drives a tandem server with synthetic visitors: N pairs of Pion clients
// that send VP8-framed video at a chosen bitrate plus Opus-sized audio, and ask for the next
// partner every K seconds. It reports forwarded packets per second, switch latency (p50, p95)
// and, given the server's PID, server CPU per forwarded packet and RSS per connected peer.
//
// It talks to the servers only over the addresses given (loopback in every documented run) and
// stops after -duration. Given several -url (the instances of a cluster), it spreads the users
// over them round robin so that partners sit on different instances (instances.go), and sums
// the CPU of every -pid.
//
//	tandem-load -url ws://127.0.0.1:3000/ws -pairs 40 -bitrate 1500000 -next 5s -duration 60s -pid $(pidof tandem)
//	tandem-load -url ws://127.0.0.1:3901/ws,ws://127.0.0.1:3902/ws -next 0 -pid 1234,1235
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

type options struct {
	urls     stringList // the instances' WebSocket URLs; users spread round robin
	byPair   bool       // spread pairs, not users, round robin (partners on one instance)
	pairs    int
	bitrate  int
	fps      int
	next     time.Duration
	duration time.Duration
	warmup   time.Duration
	pids     intList // server processes whose CPU and RSS are measured (summed)
	relay    string  // serve a plain UDP relay here instead of generating load
	udpRelay string  // drive the plain UDP relay at this address instead of a tandem server
}

func main() {
	var o options
	flag.Var(&o.urls, "url", "server WebSocket URL; several (repeated or comma-separated): the instances of a cluster, users spread round robin (default ws://127.0.0.1:3000/ws)")
	spreadBy := flag.String("spread", "users", "with several -url: users (partners on different instances) or pairs (partners on one instance, pairs round robin)")
	flag.IntVar(&o.pairs, "pairs", 10, "number of pairs (2 clients each)")
	flag.IntVar(&o.bitrate, "bitrate", 1_500_000, "video bitrate per client, bits per second")
	flag.IntVar(&o.fps, "fps", 30, "video frames per second")
	flag.DurationVar(&o.next, "next", 5*time.Second, "each initiating client sends next_partner this often (0: never)")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "measurement time (at most 10m)")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "time to connect and pair before measuring")
	flag.Var(&o.pids, "pid", "server process ids (repeated or comma-separated), for CPU and RSS figures summed over them (same machine)")
	flag.StringVar(&o.relay, "relay", "", "run a plain UDP relay on this address (the baseline), nothing else")
	flag.StringVar(&o.udpRelay, "udp-relay", "", "send the same packet load through the plain UDP relay at this address")
	flag.Parse()
	if len(o.urls) == 0 {
		o.urls = stringList{"ws://127.0.0.1:3000/ws"}
	}
	switch *spreadBy {
	case "users":
	case "pairs":
		o.byPair = true
	default:
		fmt.Fprintf(os.Stderr, "tandem-load: -spread %q: want users or pairs\n", *spreadBy)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "tandem-load:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.pairs < 1 || o.duration <= 0 || o.duration > 10*time.Minute {
		return errors.New("need -pairs >= 1 and 0 < -duration <= 10m")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.relay != "" {
		return runRelay(ctx, o.relay)
	}
	if o.udpRelay != "" {
		return runUDPBaseline(ctx, o, o.udpRelay)
	}
	stats, err := statsURLs(o.urls)
	if err != nil {
		return err
	}
	httpClient := &http.Client{Timeout: 5 * time.Second}

	idle, err := sampleProcs(o.pids)
	if err != nil {
		return err
	}
	res := &results{}
	users, err := connectUsers(ctx, o, res)
	defer func() {
		for _, u := range users {
			u.close()
		}
	}()
	if err != nil {
		return err
	}
	fmt.Printf("connected %d clients to %d instance(s); warming up %s\n", len(users), len(o.urls), o.warmup)
	if !sleep(ctx, o.warmup) {
		return ctx.Err()
	}

	res.reset()
	start := time.Now()
	fwd0, haveFwd := forwardedCounts(httpClient, stats)
	proc0, err := sampleProcs(o.pids)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	measureCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	if o.next > 0 {
		for i, u := range users {
			if i%2 == 0 { // half the clients initiate, each at its own phase
				wg.Add(1)
				go func() {
					defer wg.Done()
					nextLoop(measureCtx, u, o.next)
				}()
			}
		}
	}
	<-measureCtx.Done()
	wg.Wait()
	elapsed := time.Since(start)
	fwd1, ok := forwardedCounts(httpClient, stats)
	proc1, err := sampleProcs(o.pids)
	if err != nil {
		return err
	}

	fmt.Printf("\n%d pairs on %d instance(s), %d bps video + audio per client, %d fps, next every %s, %s measured\n",
		o.pairs, len(o.urls), o.bitrate, o.fps, o.next, elapsed.Round(time.Millisecond))
	m := measured{elapsed: elapsed, received: res.packets.Load(), bridged: res.bridged.Load()}
	if haveFwd && ok {
		for i := range fwd1 {
			m.forwarded = append(m.forwarded, fwd1[i]-fwd0[i])
		}
	}
	if len(o.pids) > 0 {
		m.cpu = cpuBetween(proc0, proc1)
	}
	m.print(os.Stdout, len(o.urls) > 1)
	p50, n := res.transit.percentile(50)
	p99, _ := res.transit.percentile(99)
	fmt.Printf("media transit sender->receiver: n=%d p50=%s p99=%s\n", n, p50, p99)
	res.mu.Lock()
	fmt.Printf("switch latency next_partner->keyframe: n=%d p50=%s p95=%s\n", len(res.switches),
		percentile(res.switches, 50).Round(time.Millisecond), percentile(res.switches, 95).Round(time.Millisecond))
	fmt.Printf("next_partner->partner_found:           n=%d p50=%s p95=%s\n", len(res.signaling),
		percentile(res.signaling, 50).Round(time.Millisecond), percentile(res.signaling, 95).Round(time.Millisecond))
	fmt.Printf("pairings: %d, errors: %d %s\n", res.pairs.Load(), res.errors.Load(), res.firstError)
	res.mu.Unlock()
	if len(o.pids) > 0 {
		var rss, idleRSS int64
		for i := range proc1 {
			rss, idleRSS = rss+proc1[i].rss, idleRSS+idle[i].rss
		}
		peers := int64(len(users))
		fmt.Printf("server RSS: %.1f MB, %.2f MB per peer (%.2f MB per peer above the idle %.1f MB)\n",
			mb(rss), mb(rss/peers), mb((rss-idleRSS)/peers), mb(idleRSS))
	}
	return nil
}

// connectUsers dials 2*pairs users one after the other, spread round robin over the
// instances (spread.instanceOf), each pair once the one before it is paired (waitPaired), so users
// 2k+1 and 2k+2 become the first partners.
func connectUsers(ctx context.Context, o options, res *results) ([]*user, error) {
	var users []*user
	for i := range 2 * o.pairs {
		id := uint32(i + 1)
		sp := spread{n: len(o.urls), byPair: o.byPair}
		u, err := dial(ctx, o.urls[sp.instanceOf(id)], id, sp, o.bitrate, o.fps, res)
		if err != nil {
			return users, err
		}
		users = append(users, u)
		go u.read()
		if err := u.start(); err != nil {
			return users, err
		}
		if i%2 == 1 && !waitPaired(ctx, users[i-1], u, 10*time.Second) {
			if ctx.Err() != nil {
				return users, ctx.Err()
			}
			fmt.Printf("users %d and %d not paired within 10 s; going on\n", id-1, id)
		}
		if !sleep(ctx, 20*time.Millisecond) {
			return users, ctx.Err()
		}
	}
	return users, nil
}

// waitPaired waits until both users have had a partner, or for at most d. Users connect in
// pairs, the next pair only once this one is paired: with nobody else waiting, a and b can
// only meet each other, whatever instance each is on and however slowly each instance
// answers.
func waitPaired(ctx context.Context, a, b *user, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for _, u := range []*user{a, b} {
		select {
		case <-u.firstPartner:
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// nextLoop sends next_partner every period. All initiators switch within the same 200 ms, so
// the queue holds many users at once and most get a new partner rather than the old one.
func nextLoop(ctx context.Context, u *user, period time.Duration) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !sleep(ctx, time.Duration(rand.Int64N(int64(200*time.Millisecond)))) {
			return
		}
		u.next()
	}
}

// sleep waits d or until ctx ends; it reports whether the whole time passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// apiURL maps the WebSocket URL to an HTTP URL on the same server.
func apiURL(wsURL, path string) (string, error) {
	parsed, err := url.Parse(wsURL)
	if err != nil {
		return "", fmt.Errorf("parse url %q: %w", wsURL, err)
	}
	parsed.Scheme = map[string]string{"wss": "https"}[parsed.Scheme]
	if parsed.Scheme == "" {
		parsed.Scheme = "http"
	}
	parsed.Path = path
	return parsed.String(), nil
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
