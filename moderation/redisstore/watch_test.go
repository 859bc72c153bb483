package redisstore

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tandemchat/tandem/internal/redistest"
	"github.com/tandemchat/tandem/internal/testlog"
	"github.com/tandemchat/tandem/moderation"
)

// instance is one process's Moderator over the shared store, following the
// others' changes, and the bans its OnBan listener was told.
type instance struct {
	*moderation.Moderator
	store *Store
	mu    sync.Mutex
	told  []string
	// reloads counts the store's full reads Watch made (at subscribe).
	reloads int
}

func startInstance(t *testing.T, r *redistest.Server, origin string) *instance {
	t.Helper()
	return startInstanceWith(t, r, origin, nil)
}

// startInstanceWith is startInstance with the rules changed by edit.
func startInstanceWith(t *testing.T, r *redistest.Server, origin string, edit func(*moderation.Config)) *instance {
	t.Helper()
	log, _ := testlog.NewLogger(t, origin+" log", slog.LevelDebug)
	cfg := moderation.DefaultConfig()
	cfg.DataDir = "unused"
	cfg.LowTrustPercent = 0
	if edit != nil {
		edit(&cfg)
	}
	in := &instance{store: newStore(t, r, origin)}
	m, err := moderation.NewShared(cfg, in.store, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	in.Moderator = m
	m.OnBan(func(b moderation.Ban) {
		in.mu.Lock()
		in.told = append(in.told, b.Target)
		in.mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	reload := func() error {
		err := m.Reload()
		in.mu.Lock()
		in.reloads++
		in.mu.Unlock()
		return err
	}
	go func() { defer close(done); in.store.Watch(ctx, m.Apply, reload, log) }()
	t.Cleanup(func() { cancel(); <-done; m.Close() })
	return in
}

func (in *instance) reloaded() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.reloads
}

func (in *instance) toldOf(target string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, x := range in.told {
		if x == target {
			return true
		}
	}
	return false
}

// eventually waits until cond holds, failing after a few seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5 s: %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling another goroutine's view
	}
}

func banned(in *instance, ip string) bool { _, ok := in.Check(ip, ""); return ok }

func fileReport(t *testing.T, in *instance, reporterIP, reportedIP string) *moderation.Ban {
	t.Helper()
	_, ban, err := in.File(moderation.ReportInput{
		Reason:   moderation.ReasonSpam,
		Reporter: moderation.Client{UserID: "u-" + reporterIP, IP: reporterIP},
		Reported: moderation.Client{UserID: "u-" + reportedIP, IP: reportedIP},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ban
}

// TestBansReportsAndApartnessFollowTheOtherInstances: a ban made on one
// instance keeps the client out of the other (whose listener is told, to end
// its sessions), an unban lets it in; reports filed on both count toward one
// automatic ban, and keep the two clients apart on the other instance.
func TestBansReportsAndApartnessFollowTheOtherInstances(t *testing.T) {
	r := redistest.Start(t)
	a, b := startInstance(t, r, "a"), startInstance(t, r, "b")
	rdb := r.Client(t)
	eventually(t, "both subscribed", func() bool {
		return rdb.PubSubNumSub(context.Background(), a.store.channel()).Val()[a.store.channel()] == 2
	})

	if _, err := a.Ban("192.0.2.7", moderation.ReasonSpam, time.Hour, "ops"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the ban keeps the client out of b", func() bool { return banned(b, "192.0.2.7") && b.toldOf("192.0.2.7") })
	if err := b.Unban("192.0.2.7", "ops"); err != nil {
		t.Fatalf("unban on the other instance: %v", err)
	}
	eventually(t, "the unban lets the client into a", func() bool { return !banned(a, "192.0.2.7") })

	fileReport(t, a, "198.51.100.1", "192.0.2.9")
	fileReport(t, b, "198.51.100.2", "192.0.2.9")
	eventually(t, "a report filed on a keeps the two apart on b", func() bool {
		return b.Apart("198.51.100.1", "", "192.0.2.9", "")
	})
	if ban := fileReport(t, a, "198.51.100.3", "192.0.2.9"); ban == nil {
		t.Fatal("three reporters on two instances did not ban")
	}
	eventually(t, "the automatic ban keeps the client out of b", func() bool { return banned(b, "192.0.2.9") })
	audit, err := b.Audit(10, "")
	if err != nil || len(audit) != 3 || audit[0].Action != "ban" || audit[0].Target != "192.0.2.9" {
		t.Fatalf("shared audit log %+v, %v", audit, err)
	}
}

// TestAMissedChangeIsReadOnReconnect writes a ban without telling anyone (as
// if its message was published while b was disconnected), then cuts b's
// subscription: b reads the store again when it subscribes again.
func TestAMissedChangeIsReadOnReconnect(t *testing.T) {
	r := redistest.Start(t)
	b := startInstance(t, r, "b")
	rdb := r.Client(t)
	ctx := context.Background()
	// Subscribed, and done with the read that follows subscribing (else that
	// read, not the reconnect, could find the ban written below).
	eventually(t, "b subscribed and read the store", func() bool {
		return rdb.PubSubNumSub(ctx, b.store.channel()).Val()[b.store.channel()] == 1 && b.reloaded() == 1
	})

	ban, _ := json.Marshal(moderation.Ban{Target: "192.0.2.5", Until: time.Now().Add(time.Hour), By: "ops"})
	if err := rdb.HSet(ctx, b.store.key("bans"), "192.0.2.5", ban).Err(); err != nil {
		t.Fatal(err)
	}
	if banned(b, "192.0.2.5") {
		t.Fatal("banned before anyone told")
	}
	if err := rdb.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b reloads the store when it subscribes again", func() bool { return banned(b, "192.0.2.5") && b.toldOf("192.0.2.5") })
}

// TestAnInstanceStartedWithoutRedisReadsTheStoreWhenItAnswers: the shared
// Moderator starts while Redis is down (start-up is not refused), and keeps
// out a client banned by another instance once Redis is back.
func TestAnInstanceStartedWithoutRedisReadsTheStoreWhenItAnswers(t *testing.T) {
	r := redistest.Start(t)
	r.Stop()
	b := startInstance(t, r, "b")
	r.Restart(t)
	a := newStore(t, r, "a")
	if err := a.PutBan(moderation.Ban{Target: "192.0.2.6", Until: time.Now().Add(time.Hour), By: "ops"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b follows the store once Redis answers", func() bool { return banned(b, "192.0.2.6") })
}

// TestTheLowTrustPoolWeighsTheCallsOfEveryInstance: x made three calls on a
// and one on b, and was reported once. Alone, b would reckon one report in
// one call (100 %, the pool); once the instances share their counts, b
// reckons one in four (25 %, under the 50 % of the rule).
func TestTheLowTrustPoolWeighsTheCallsOfEveryInstance(t *testing.T) {
	r := redistest.Start(t)
	edit := func(c *moderation.Config) { c.LowTrustPercent, c.LowTrustMinReports = 50, 1 }
	a, b := startInstanceWith(t, r, "a", edit), startInstanceWith(t, r, "b", edit)
	for range 3 {
		a.CallMade("192.0.2.20", "")
	}
	b.CallMade("192.0.2.20", "")
	fileReport(t, a, "198.51.100.1", "192.0.2.20")
	eventually(t, "b counts the report filed on a", func() bool { return b.LowTrust("192.0.2.20", "") })

	for _, in := range []*instance{a, b} {
		if err := in.ShareCalls(in.store.CountCalls); err != nil {
			t.Fatal(err)
		}
	}
	if b.LowTrust("192.0.2.20", "") || a.LowTrust("192.0.2.20", "") {
		t.Fatal("one report in four calls over two instances: still in the low-trust pool")
	}
	if err := b.ShareCalls(b.store.CountCalls); err != nil { // nothing new: the totals stay
		t.Fatal(err)
	}
	if b.LowTrust("192.0.2.20", "") {
		t.Fatal("a second exchange lost the cluster's calls")
	}
}
