package redisstore

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tandemchat/tandem/internal/redistest"
	"github.com/tandemchat/tandem/moderation"
)

// prefix is the test stores' key prefix, a hash tag as the cluster's.
const prefix = "{test}"

func newStore(t *testing.T, r *redistest.Server, origin string) *Store {
	t.Helper()
	return New(r.Client(t), prefix, origin)
}

func addReport(t *testing.T, s *Store, at time.Time, reason, target, reporter string) moderation.Report {
	t.Helper()
	r, err := s.AddReport(moderation.Report{
		Time: at, Reason: reason, Status: moderation.StatusOpen, TargetKey: target, ReporterKey: reporter,
		Reporter: moderation.Party{UserID: "u-" + reporter, IP: reporter},
		Reported: moderation.Party{UserID: "u-" + target, IP: target},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func ids(rs []moderation.Report) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestReportsAreListedNewestFirstFilteredPagedAndExpired(t *testing.T) {
	r := redistest.Start(t)
	a, b := newStore(t, r, "a"), newStore(t, r, "b")
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var all []moderation.Report
	for i := range 450 { // more than two batches
		s := a
		if i%2 == 1 {
			s = b // two instances share one numbering
		}
		reason := moderation.ReasonSpam
		if i%3 == 0 {
			reason = moderation.ReasonNudity
		}
		all = append(all, addReport(t, s, t0.Add(time.Duration(i)*time.Second), reason, "10.0.0.9", fmt.Sprintf("10.1.%d.%d", i/200, i%200)))
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			t.Fatalf("id %s after %s: ids must grow", all[i].ID, all[i-1].ID)
		}
	}

	page, err := b.Reports(moderation.ReportFilter{Limit: 3})
	if err != nil || fmt.Sprint(ids(page)) != fmt.Sprint([]string{all[449].ID, all[448].ID, all[447].ID}) {
		t.Fatalf("newest page %v, %v", ids(page), err)
	}
	page, _ = a.Reports(moderation.ReportFilter{Limit: 2, Before: all[447].ID})
	if fmt.Sprint(ids(page)) != fmt.Sprint([]string{all[446].ID, all[445].ID}) {
		t.Fatalf("page before %s: %v", all[447].ID, ids(page))
	}
	// A filter that matches one report in three, past the first batch.
	page, _ = a.Reports(moderation.ReportFilter{Reason: moderation.ReasonNudity, Limit: 100})
	if len(page) != 100 || page[0].ID != all[447].ID || page[99].ID != all[447-99*3].ID {
		t.Fatalf("nudity reports: %d, from %v", len(page), ids(page[:2]))
	}
	page, _ = a.Reports(moderation.ReportFilter{Since: t0.Add(440 * time.Second), Limit: 500})
	if len(page) != 10 {
		t.Fatalf("since the 441st report: %d reports, want 10", len(page))
	}
	page, _ = a.Reports(moderation.ReportFilter{UserID: "u-10.1.1.7", Limit: 500})
	if len(page) != 1 || page[0].ID != all[207].ID {
		t.Fatalf("reports of one user: %v", ids(page))
	}

	got, err := a.Report(all[5].ID)
	if err != nil || got.Reporter.IP != "10.1.0.5" {
		t.Fatalf("report %s: %+v, %v", all[5].ID, got, err)
	}
	got.Status = moderation.StatusReviewed
	if err := b.UpdateReport(got); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Report(all[5].ID); got.Status != moderation.StatusReviewed {
		t.Fatalf("updated report has status %q", got.Status)
	}
	if _, err := a.Report("00000000000fffff"); !errors.Is(err, moderation.ErrNotFound) {
		t.Fatalf("missing report: %v", err)
	}
	if err := a.UpdateReport(moderation.Report{ID: "00000000000fffff"}); !errors.Is(err, moderation.ErrNotFound) {
		t.Fatalf("update of a missing report: %v", err)
	}

	reporters, err := a.Reporters("10.0.0.9", t0.Add(445*time.Second))
	if err != nil || len(reporters) != 5 || !reporters["10.1.2.49"] {
		t.Fatalf("reporters of the last 5 s: %v, %v", reporters, err)
	}

	n, err := b.DeleteReportsBefore(t0.Add(300 * time.Second))
	if err != nil || n != 300 {
		t.Fatalf("expired %d reports (%v), want 300", n, err)
	}
	page, _ = a.Reports(moderation.ReportFilter{Limit: 500})
	if len(page) != 150 || page[149].ID != all[300].ID {
		t.Fatalf("after expiry %d reports, oldest %s", len(page), page[len(page)-1].ID)
	}
	if reporters, _ := a.Reporters("10.0.0.9", time.Time{}); len(reporters) != 150 {
		t.Fatalf("after expiry %d reporters, want 150", len(reporters))
	}
}

func TestBansAndTheAuditLogAreShared(t *testing.T) {
	r := redistest.Start(t)
	a, b := newStore(t, r, "a"), newStore(t, r, "b")
	until := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for _, target := range []string{"10.0.0.1", "identity:alice"} {
		if err := a.PutBan(moderation.Ban{Target: target, Until: until, By: "ops", Strikes: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.PutBan(moderation.Ban{Target: "10.0.0.1", Until: until, Lifted: true, Strikes: 1}); err != nil {
		t.Fatal(err)
	}
	bans, err := a.Bans()
	if err != nil || len(bans) != 2 || bans[0].Target != "10.0.0.1" || !bans[0].Lifted || bans[1].Target != "identity:alice" {
		t.Fatalf("bans %+v, %v", bans, err)
	}
	if err := b.DeleteBan("identity:alice"); err != nil {
		t.Fatal(err)
	}
	if bans, _ := a.Bans(); len(bans) != 1 {
		t.Fatalf("after delete: %+v", bans)
	}

	for i := range 5 {
		s := a
		if i%2 == 1 {
			s = b
		}
		if err := s.AddAudit(moderation.AuditEntry{Actor: "ops", Action: "ban", Target: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	log, err := b.Audit(2, "")
	if err != nil || len(log) != 2 || log[0].Target != "4" || log[1].Target != "3" {
		t.Fatalf("audit %+v, %v", log, err)
	}
	log, _ = a.Audit(10, log[1].ID)
	if len(log) != 3 || log[0].Target != "2" || log[2].Target != "0" {
		t.Fatalf("audit before: %+v", log)
	}
}
