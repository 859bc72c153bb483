package redisstore

import (
	"log/slog"
	"testing"

	"github.com/tandemchat/tandem/internal/redistest"
	"github.com/tandemchat/tandem/internal/testlog"
	"github.com/tandemchat/tandem/moderation"
)

// unwatched is a Moderator over the shared store that follows none of the
// other instances' changes: what an instance knows in the moment before
// another's change reaches it.
func unwatched(t *testing.T, r *redistest.Server, origin string) *moderation.Moderator {
	t.Helper()
	log, _ := testlog.NewLogger(t, origin+" log", slog.LevelDebug)
	cfg := moderation.DefaultConfig()
	cfg.DataDir = "unused"
	m, err := moderation.NewShared(cfg, newStore(t, r, origin), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestTwoInstancesDecidingOneAutomaticBanBanOnce: b's third reporter bans x;
// a, not yet told, reckons the fourth report a first strike too. The shared
// store keeps b's ban, and the audit log tells one automatic ban.
func TestTwoInstancesDecidingOneAutomaticBanBanOnce(t *testing.T) {
	r := redistest.Start(t)
	a := &instance{Moderator: unwatched(t, r, "a")}
	b := &instance{Moderator: unwatched(t, r, "b")}
	fileReport(t, a, "198.51.100.1", "192.0.2.30")
	fileReport(t, a, "198.51.100.2", "192.0.2.30")
	first := fileReport(t, b, "198.51.100.3", "192.0.2.30")
	if first == nil || first.Strikes != 1 {
		t.Fatalf("three reporters: ban %+v", first)
	}
	if again := fileReport(t, a, "198.51.100.4", "192.0.2.30"); again != nil {
		t.Fatalf("a stored the strike b stored already: %+v", again)
	}
	audit, err := a.Audit(10, "")
	if err != nil {
		t.Fatal(err)
	}
	bans := 0
	for _, e := range audit {
		if e.Action == "ban" {
			bans++
		}
	}
	if bans != 1 {
		t.Fatalf("the audit log tells %d automatic bans, want 1: %+v", bans, audit)
	}
	stored, err := newStore(t, r, "c").Bans()
	if err != nil || len(stored) != 1 || stored[0].Until != first.Until {
		t.Fatalf("stored bans %+v (%v), want b's %+v", stored, err, first)
	}
}
