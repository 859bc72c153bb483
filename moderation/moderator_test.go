package moderation

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemchat/tandem/internal/testlog"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// open starts a Moderator on dir with the default rules and a test clock.
func open(t testing.TB, dir string, clk *clock, edit func(*Config)) *Moderator {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.Now = clk.now
	if edit != nil {
		edit(&cfg)
	}
	log, _ := testlog.NewLogger(t, "moderation log", slog.LevelInfo)
	m, err := Open(cfg, log)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// userOf is a user id for a test client that does not contain its IP.
func userOf(ip string) string { return "user-" + strings.ReplaceAll(ip, ".", "_") }

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

// report files a harassment report from reporterIP about reportedIP.
func report(t testing.TB, m *Moderator, reporterIP, reportedIP string) (Report, *Ban) {
	t.Helper()
	r, ban, err := m.File(ReportInput{
		Reason:   ReasonHarassment,
		Reporter: Client{UserID: userOf(reporterIP), IP: reporterIP},
		Reported: Client{UserID: userOf(reportedIP), IP: reportedIP},
		RoomID:   "room", RoomDuration: time.Minute,
		Chat: []ChatLine{{From: userOf(reportedIP), Text: "rude", At: time.Now()}},
	})
	if err != nil {
		t.Fatalf("file report: %v", err)
	}
	return r, ban
}

func TestThreeDistinctReportersBanAndTheBanSurvivesReopening(t *testing.T) {
	dir, clk := t.TempDir(), newClock()
	m := open(t, dir, clk, nil)
	var told []Ban
	m.OnBan(func(b Ban) { told = append(told, b) })
	report(t, m, "10.0.0.1", "10.0.0.9")
	report(t, m, "10.0.0.1", "10.0.0.9") // same reporter IP: counts once
	if _, banned := m.Check("10.0.0.9", ""); banned {
		t.Fatal("banned after one distinct reporter")
	}
	report(t, m, "10.0.0.2", "10.0.0.9")
	_, ban := report(t, m, "10.0.0.3", "10.0.0.9")
	if ban == nil || ban.Target != "10.0.0.9" || !ban.Until.Equal(clk.now().Add(24*time.Hour)) {
		t.Fatalf("third distinct reporter: ban %+v", ban)
	}
	if len(told) != 1 || told[0].Target != "10.0.0.9" {
		t.Fatalf("OnBan told %+v", told)
	}
	if _, banned := m.Check("10.0.0.8", ""); banned {
		t.Fatal("a neighbour is banned too")
	}
	m.Close()

	m = open(t, dir, clk, nil)
	b, banned := m.Check("10.0.0.9", "")
	if !banned || b.Reason != ReasonHarassment {
		t.Fatalf("after reopening: banned %v %+v", banned, b)
	}
	if reports, _ := m.Reports(ReportFilter{}); len(reports) != 4 {
		t.Fatalf("after reopening: %d reports, want 4", len(reports))
	}
	clk.add(24*time.Hour + time.Second)
	if _, banned := m.Check("10.0.0.9", ""); banned {
		t.Fatal("still banned after the ban ended")
	}
}

func TestRepeatBansEscalateUpToTheMaximum(t *testing.T) {
	clk := newClock()
	m := open(t, t.TempDir(), clk, func(c *Config) { c.ReportThreshold = 1; c.BanMax = 50 * time.Hour })
	for i, want := range []time.Duration{24 * time.Hour, 50 * time.Hour, 50 * time.Hour} {
		_, ban := report(t, m, "10.0.1.1", "10.0.1.9")
		if ban == nil || ban.Until.Sub(ban.Created) != want || ban.Strikes != i+1 {
			t.Fatalf("ban %d: %+v, want %v", i+1, ban, want)
		}
		clk.add(want + time.Second)
	}
}

func TestReportsBeforeTheLastBanDoNotBanAgain(t *testing.T) {
	clk := newClock()
	m := open(t, t.TempDir(), clk, func(c *Config) { c.ReportThreshold = 2 })
	report(t, m, "10.0.2.1", "10.0.2.9")
	if _, ban := report(t, m, "10.0.2.2", "10.0.2.9"); ban == nil {
		t.Fatal("no ban after two reporters")
	}
	clk.add(25 * time.Hour)
	report(t, m, "10.0.2.3", "10.0.2.8") // someone else
	if _, ban := report(t, m, "10.0.2.3", "10.0.2.9"); ban != nil {
		t.Fatalf("one new report re-banned at once: %+v", ban)
	}
}

func TestIPv6ClientsAreBannedByTheir64AndCIDRBansMatch(t *testing.T) {
	clk := newClock()
	m := open(t, t.TempDir(), clk, func(c *Config) { c.StaticBans = []string{"192.0.2.0/24"} })
	if _, err := m.Ban("2001:db8:1:2::5", "spam", time.Hour, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, banned := m.Check("2001:db8:1:2:ffff::1", ""); !banned {
		t.Error("another address of the banned /64 is not banned")
	}
	if _, banned := m.Check("2001:db8:1:3::5", ""); banned {
		t.Error("the next /64 is banned")
	}
	if b, banned := m.Check("192.0.2.77", ""); !banned || b.By != ByConfig {
		t.Errorf("static CIDR: %v %+v", banned, b)
	}
	if _, err := m.Ban("identity:mallory", "nudity", time.Hour, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, banned := m.Check("198.51.100.1", "mallory"); !banned {
		t.Error("banned identity admitted")
	}
	if err := m.Unban("2001:db8:1:2::/64", "admin"); err != nil {
		t.Fatal(err)
	}
	if _, banned := m.Check("2001:db8:1:2::5", ""); banned {
		t.Error("still banned after unban")
	}
	if err := m.Unban("2001:db8:1:2::/64", "admin"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second unban: %v", err)
	}
	audit, _ := m.Audit(10, "")
	if len(audit) != 3 || audit[0].Action != "unban" || audit[0].Actor != "admin" {
		t.Errorf("audit %+v", audit)
	}
}

func TestHashedIPsAreNotStoredButStillBan(t *testing.T) {
	dir, clk := t.TempDir(), newClock()
	m := open(t, dir, clk, func(c *Config) { c.IPHashKey = "k3y"; c.ReportThreshold = 2 })
	report(t, m, "10.0.3.1", "10.0.3.9")
	r, ban := report(t, m, "10.0.3.2", "10.0.3.9")
	if ban == nil {
		t.Fatal("no ban with hashing on")
	}
	if strings.Contains(r.Reporter.IP+r.Reported.IP+r.TargetKey+r.ReporterKey, "10.0.3") || !strings.HasPrefix(r.Reported.IP, "hmac:") {
		t.Fatalf("report keeps an IP: %+v", r)
	}
	if got, _ := m.Reports(ReportFilter{IP: "10.0.3.9"}); len(got) != 2 {
		t.Fatalf("filter by IP with hashing: %d reports", len(got))
	}
	m.Close()
	data, err := os.ReadFile(filepath.Join(dir, StoreFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "10.0.3.1") {
		t.Fatal("the store file holds a reporter's IP")
	}
}

func TestReportsAreListedNewestFirstFilteredAndPaged(t *testing.T) {
	clk := newClock()
	m := open(t, t.TempDir(), clk, func(c *Config) { c.ReportThreshold = 0 })
	for i := range 5 {
		report(t, m, fmt.Sprintf("10.0.4.%d", i+1), "10.0.4.9")
		clk.add(time.Minute)
	}
	page, _ := m.Reports(ReportFilter{Limit: 2})
	if len(page) != 2 || page[0].ID <= page[1].ID {
		t.Fatalf("page 1: %+v", page)
	}
	next, _ := m.Reports(ReportFilter{Limit: 10, Before: page[1].ID})
	if len(next) != 3 || next[0].ID >= page[1].ID {
		t.Fatalf("page 2: %d", len(next))
	}
	if got, _ := m.Reports(ReportFilter{UserID: userOf("10.0.4.2")}); len(got) != 1 {
		t.Fatalf("by user: %d", len(got))
	}
	if got, _ := m.Reports(ReportFilter{Since: clk.now().Add(-2*time.Minute - time.Second)}); len(got) != 2 {
		t.Fatalf("since: %d", len(got))
	}
	r, err := m.Review(page[0].ID, StatusDismissed, "no evidence", "admin")
	if err != nil || r.Status != StatusDismissed {
		t.Fatalf("review: %v %+v", err, r)
	}
	if got, _ := m.Reports(ReportFilter{Status: StatusOpen}); len(got) != 4 {
		t.Fatalf("open after review: %d", len(got))
	}
	if _, err := m.Report("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

func TestOldReportsExpire(t *testing.T) {
	dir, clk := t.TempDir(), newClock()
	m := open(t, dir, clk, func(c *Config) { c.Retention = 48 * time.Hour; c.ReportThreshold = 0 })
	report(t, m, "10.0.5.1", "10.0.5.9")
	clk.add(24 * time.Hour)
	report(t, m, "10.0.5.2", "10.0.5.9")
	clk.add(25 * time.Hour)
	m.Close()
	m = open(t, dir, clk, func(c *Config) { c.Retention = 48 * time.Hour; c.ReportThreshold = 0 })
	got, _ := m.Reports(ReportFilter{})
	if len(got) != 1 || got[0].Reporter.IP != "10.0.5.2" {
		t.Fatalf("after retention: %+v", got)
	}
}

func TestCorruptOrLockedStoreFailsWithAClearError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, StoreFile), []byte(strings.Repeat("not a database ", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.DataDir = dir
	if _, err := Open(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), StoreFile) {
		t.Fatalf("corrupt file: %v", err)
	}
	cfg.DataDir = t.TempDir()
	first, err := Open(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := Open(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second opener: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	cfg.DataDir = filepath.Join(file, "sub")
	if _, err := Open(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "data directory") {
		t.Fatalf("unusable directory: %v", err)
	}
}

func TestLowTrustFromReportsVersusCalls(t *testing.T) {
	clk := newClock()
	m := open(t, t.TempDir(), clk, func(c *Config) { c.ReportThreshold = 0; c.LowTrustPercent = 20; c.LowTrustMinReports = 2 })
	for range 20 {
		m.CallMade("10.0.6.9", "")
	}
	report(t, m, "10.0.6.1", "10.0.6.9")
	report(t, m, "10.0.6.2", "10.0.6.9")
	if m.LowTrust("10.0.6.9", "") {
		t.Fatal("2 reports in 20 calls is low trust at 20%")
	}
	report(t, m, "10.0.6.3", "10.0.6.9")
	report(t, m, "10.0.6.4", "10.0.6.9")
	if !m.LowTrust("10.0.6.9", "") {
		t.Fatal("4 reports in 20 calls is not low trust at 20%")
	}
	if m.LowTrust("10.0.6.1", "") {
		t.Fatal("a reporter is low trust")
	}
}

func TestAStaticBanOutlivesAnUnbanAndExpiryOfTheSameTarget(t *testing.T) {
	clk := newClock()
	m := open(t, t.TempDir(), clk, func(c *Config) { c.StaticBans = []string{"192.0.2.0/24"} })
	if _, err := m.Ban("192.0.2.0/24", "spam", time.Hour, "admin"); err != nil {
		t.Fatal(err)
	}
	if err := m.Unban("192.0.2.0/24", "admin"); err != nil {
		t.Fatal(err)
	}
	if b, banned := m.Check("192.0.2.4", ""); !banned || b.By != ByConfig {
		t.Fatalf("after unban: %v %+v, want the static ban", banned, b)
	}
	clk.add(40 * 24 * time.Hour)
	if err := m.expire(); err != nil {
		t.Fatal(err)
	}
	if _, banned := m.Check("192.0.2.4", ""); !banned {
		t.Fatal("the static ban went with the expired record")
	}
}

// TestAReportToldAgainAfterAReadCountsOnce: a shared store's watcher reads
// the store when it (re)subscribes, and may then be told of a report that
// read already held; it must count once, and a newer one must count.
func TestAReportToldAgainAfterAReadCountsOnce(t *testing.T) {
	m := open(t, t.TempDir(), newClock(), func(c *Config) { c.ReportThreshold = 0; c.LowTrustPercent = 20; c.LowTrustMinReports = 2 })
	for range 10 {
		m.CallMade("10.0.7.9", "")
	}
	r, _ := report(t, m, "10.0.7.1", "10.0.7.9")
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	m.Apply(Change{Report: &Report{ID: r.ID, TargetKey: r.TargetKey, ReporterSubject: r.ReporterSubject}})
	if m.LowTrust("10.0.7.9", "") {
		t.Fatal("the report told after the read that held it counted twice (2 in 10 calls)")
	}
	newer, err := m.store.AddReport(Report{Time: time.Now(), TargetKey: r.TargetKey, ReporterKey: "other", Status: StatusOpen})
	if err != nil {
		t.Fatal(err)
	}
	m.Apply(Change{Report: &Report{ID: newer.ID, TargetKey: newer.TargetKey}})
	if !m.LowTrust("10.0.7.9", "") {
		t.Fatal("a newer report told by another instance did not count")
	}
}
