// Command tandem-load drives a tandem server with synthetic visitors: N pairs of Pion clients
// that send VP8-framed video at a chosen bitrate plus Opus-sized audio, and ask for the next
// partner every K seconds. It reports forwarded packets per second, switch latency (p50, p95)
// and, given the server's PID, server CPU per forwarded packet and RSS per connected peer.
//
// It talks to the server only over the address given (loopback in every documented run) and
// stops after -duration.
//
//	tandem-load -url ws://127.0.0.1:3000/ws -pairs 40 -bitrate 1500000 -next 5s -duration 60s -pid $(pidof tandem)
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
	url      string
	pairs    int
	bitrate  int
	fps      int
	next     time.Duration
	duration time.Duration
	warmup   time.Duration
	pid      int
	relay    string // serve a plain UDP relay here instead of generating load
	udpRelay string // drive the plain UDP relay at this address instead of a tandem server
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "ws://127.0.0.1:3000/ws", "server WebSocket URL")
	flag.IntVar(&o.pairs, "pairs", 10, "number of pairs (2 clients each)")
	flag.IntVar(&o.bitrate, "bitrate", 1_500_000, "video bitrate per client, bits per second")
	flag.IntVar(&o.fps, "fps", 30, "video frames per second")
	flag.DurationVar(&o.next, "next", 5*time.Second, "each initiating client sends next_partner this often (0: never)")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "measurement time (at most 10m)")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "time to connect and pair before measuring")
	flag.IntVar(&o.pid, "pid", 0, "server process id, for CPU and RSS figures (same machine)")
	flag.StringVar(&o.relay, "relay", "", "run a plain UDP relay on this address (the baseline), nothing else")
	flag.StringVar(&o.udpRelay, "udp-relay", "", "send the same packet load through the plain UDP relay at this address")
	flag.Parse()
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
	statsURL, err := apiURL(o.url, "/api/stats")
	if err != nil {
		return err
	}
	httpClient := &http.Client{Timeout: 5 * time.Second}

	var before procSample
	if o.pid > 0 {
		if before, err = sampleProc(o.pid); err != nil {
			return err
		}
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
	fmt.Printf("connected %d clients; warming up %s\n", len(users), o.warmup)
	if !sleep(ctx, o.warmup) {
		return ctx.Err()
	}

	res.reset()
	start := time.Now()
	fwd0, haveFwd := serverForwarded(httpClient, statsURL)
	var proc0 procSample
	if o.pid > 0 {
		if proc0, err = sampleProc(o.pid); err != nil {
			return err
		}
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

	fmt.Printf("\n%d pairs, %d bps video + audio per client, %d fps, next every %s, %s measured\n",
		o.pairs, o.bitrate, o.fps, o.next, elapsed.Round(time.Millisecond))
	fmt.Printf("received packets/s (all clients): %.0f\n", float64(res.packets.Load())/elapsed.Seconds())
	fwd1, ok := serverForwarded(httpClient, statsURL)
	forwarded := res.packets.Load()
	if haveFwd && ok {
		forwarded = fwd1 - fwd0
		fmt.Printf("forwarded packets/s (server):     %.0f\n", float64(forwarded)/elapsed.Seconds())
	}
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
	if o.pid > 0 {
		proc1, err := sampleProc(o.pid)
		if err != nil {
			return err
		}
		peers := int64(len(users))
		if forwarded > 0 {
			cpu, sys := proc1.cpu-proc0.cpu, proc1.sys-proc0.sys
			fmt.Printf("server CPU per forwarded packet: %.1f µs, %.1f µs of it in the kernel (%.2f CPU cores)\n",
				float64(cpu.Microseconds())/float64(forwarded), float64(sys.Microseconds())/float64(forwarded),
				cpu.Seconds()/elapsed.Seconds())
		}
		fmt.Printf("server RSS: %.1f MB, %.2f MB per peer (%.2f MB per peer above the idle %.1f MB)\n",
			mb(proc1.rss), mb(proc1.rss/peers), mb((proc1.rss-before.rss)/peers), mb(before.rss))
	}
	return nil
}

// connectUsers dials 2*pairs users, spreading the connections over about a second.
func connectUsers(ctx context.Context, o options, res *results) ([]*user, error) {
	var users []*user
	for i := range 2 * o.pairs {
		u, err := dial(ctx, o.url, uint32(i+1), o.bitrate, o.fps, res)
		if err != nil {
			return users, err
		}
		users = append(users, u)
		go u.read()
		if err := u.start(); err != nil {
			return users, err
		}
		if !sleep(ctx, 20*time.Millisecond) {
			return users, ctx.Err()
		}
	}
	return users, nil
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
