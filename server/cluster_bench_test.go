package server_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/livetest"
	"github.com/tandemchat/tandem/internal/redistest"
)

// BenchmarkClusterFindPartner measures find_partner -> partner_found for
// a user who finds a stranger already waiting, on loopback with a real
// redis-server: the stranger on the same instance (local) or on another
// (across: the shared queue's script, then the bus to the waiting user's
// instance). Each pair is two new users (the rules keep a pair from
// meeting again at once); the dials are not timed. Reports p50 and p99 in
// ms of the finder's partner_found and of the waiting user's (the one the
// bus carries across).
func BenchmarkClusterFindPartner(b *testing.B) {
	r := redistest.Start(b)
	raise := func(c *config.Config) {
		c.Limits.ConnectionsPerMinute = 1_000_000
		c.Limits.SessionsPerIP = 100_000
		c.HTTP.ConnsPerIP = 1_000_000
	}
	x, y := startInstanceWith(b, r, raise), startInstanceWith(b, r, raise)
	for _, bc := range []struct {
		name   string
		finder *livetest.Server
	}{{"local", x}, {"across", y}} {
		b.Run(bc.name, func(b *testing.B) {
			var finderTook, waiterTook []time.Duration
			for b.Loop() {
				b.StopTimer()
				waiter, finder := livetest.MustDial(b, x.WSURL), livetest.MustDial(b, bc.finder.WSURL)
				waiter.Send("find_partner", nil)
				waiter.Expect("waiting_for_partner")
				b.StartTimer()
				start := time.Now()
				finder.Send("find_partner", nil)
				finder.ExpectUntil("partner_found")
				finderTook = append(finderTook, time.Since(start))
				waiter.ExpectUntil("partner_found")
				waiterTook = append(waiterTook, time.Since(start))
				b.StopTimer()
				waiter.Close()
				finder.Close()
				b.StartTimer()
			}
			reportPercentiles(b, "finder", finderTook)
			reportPercentiles(b, "waiter", waiterTook)
		})
	}
}

// reportPercentiles reports the p50 and p99 of took, in ms, as metrics named for who.
func reportPercentiles(b *testing.B, who string, took []time.Duration) {
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2])/1e6, who+"-p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100])/1e6, who+"-p99-ms")
}
