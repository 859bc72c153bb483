package moderation

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tandemchat/tandem/internal/testlog"
)

// outage is a shared store that can stop answering, as Redis does.
type outage struct {
	*BoltStore
	down atomic.Bool
}

var errUnreachable = errors.New("store unreachable")

func (o *outage) AddReport(r Report) (Report, error) {
	if o.down.Load() {
		return Report{}, errUnreachable
	}
	return o.BoltStore.AddReport(r)
}

func (o *outage) Reports(f ReportFilter) ([]Report, error) {
	if o.down.Load() {
		return nil, errUnreachable
	}
	return o.BoltStore.Reports(f)
}

// openShared starts a Moderator over a store that can fail, holding what it
// refuses in a file of dir.
func openShared(t *testing.T, store *outage, dir string, clk *clock) *Moderator {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Now = dir, clk.now
	cfg.LowTrustPercent, cfg.LowTrustMinReports = 50, 1
	held, err := OpenHeld(dir)
	if err != nil {
		t.Fatal(err)
	}
	log, _ := testlog.NewLogger(t, "moderation log", slog.LevelInfo)
	m, err := NewShared(cfg, store, held, log)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestReportsMadeWhileTheSharedStoreIsDownAreHeldThenStoredAndBan: three
// reports while the store is down are taken (a provisional id), count at
// once (low trust, apart), survive a restart of the instance, and are
// stored when the store answers, the third then banning as it would have.
func TestReportsMadeWhileTheSharedStoreIsDownAreHeldThenStoredAndBan(t *testing.T) {
	dir, clk := t.TempDir(), newClock()
	bolt, err := OpenBolt(filepath.Join(dir, "shared"))
	if err != nil {
		t.Fatal(err)
	}
	store := &outage{BoltStore: bolt}
	m := openShared(t, store, dir, clk)
	store.down.Store(true)

	r, ban := report(t, m, "10.0.8.1", "10.0.8.9")
	if !strings.HasPrefix(r.ID, HeldPrefix) || ban != nil {
		t.Fatalf("report while the store is down: id %q, ban %+v", r.ID, ban)
	}
	if !m.LowTrust("10.0.8.9", "") || !m.Apart(m.Subject("10.0.8.1", ""), "", "10.0.8.9", "") {
		t.Fatal("a held report does not count at once")
	}
	report(t, m, "10.0.8.2", "10.0.8.9")
	report(t, m, "10.0.8.3", "10.0.8.9")
	if err := m.StoreHeld(); !errors.Is(err, errUnreachable) || m.HeldReports() != 3 {
		t.Fatalf("storing while down: %v, %d held", err, m.HeldReports())
	}

	// The instance restarts before the store answers: the file keeps them.
	m.Close() // closes bolt too
	bolt, err = OpenBolt(filepath.Join(dir, "shared"))
	if err != nil {
		t.Fatal(err)
	}
	store = &outage{BoltStore: bolt}
	m = openShared(t, store, dir, clk)
	defer m.Close()
	if m.HeldReports() != 3 || !m.LowTrust("10.0.8.9", "") {
		t.Fatalf("after a restart: %d held, low trust %v", m.HeldReports(), m.LowTrust("10.0.8.9", ""))
	}

	if err := m.Resync(); err != nil {
		t.Fatal(err)
	}
	stored, err := store.Reports(ReportFilter{Limit: 10})
	if err != nil || len(stored) != 3 || m.HeldReports() != 0 {
		t.Fatalf("stored %d reports (%v), %d still held", len(stored), err, m.HeldReports())
	}
	if strings.HasPrefix(stored[0].ID, HeldPrefix) || stored[2].Reporter.IP != "10.0.8.1" {
		t.Fatalf("stored reports %+v", stored)
	}
	if b, banned := m.Check("10.0.8.9", ""); !banned || b.By != ByAuto {
		t.Fatalf("three reporters stored after the outage: ban %+v, %v", b, banned)
	}
	if !m.LowTrust("10.0.8.9", "") {
		t.Fatal("the stored reports lost their count")
	}
}

// TestAStoreOfOnesOwnRefusesWhatItCannotStore: without a held file, a
// report the store refuses is an error, as before.
func TestAStoreOfOnesOwnRefusesWhatItCannotStore(t *testing.T) {
	dir := t.TempDir()
	bolt, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	store := &outage{BoltStore: bolt}
	store.down.Store(true)
	log, _ := testlog.NewLogger(t, "moderation log", slog.LevelInfo)
	cfg := DefaultConfig()
	cfg.DataDir = dir
	m, err := NewShared(cfg, store, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, _, err = m.File(ReportInput{Reason: ReasonSpam, Reporter: Client{IP: "10.0.9.1"}, Reported: Client{IP: "10.0.9.2"}})
	if !errors.Is(err, errUnreachable) {
		t.Fatalf("filed with nowhere to keep it: %v", err)
	}
}

// TestTheHeldFileIsOneInstancesOwn: a second instance on the same data
// directory is told so instead of waiting.
func TestTheHeldFileIsOneInstancesOwn(t *testing.T) {
	dir := t.TempDir()
	h, err := OpenHeld(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := OpenHeld(dir); err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second open: %v", err)
	}
}
