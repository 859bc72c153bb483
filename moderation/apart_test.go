package moderation

import "testing"

// TestAReportKeepsTheTwoApartAfterReopeningAndWithHashedIPs files one report
// and checks that reporter and reported are kept apart both ways, by their
// addresses (an IPv6 client by its /64) and after the store is reopened,
// while others are not.
func TestAReportKeepsTheTwoApartAfterReopeningAndWithHashedIPs(t *testing.T) {
	for _, hashed := range []bool{false, true} {
		dir, clk := t.TempDir(), newClock()
		edit := func(c *Config) {
			if hashed {
				c.IPHashKey = "a key for hashing addresses"
			}
		}
		m := open(t, dir, clk, edit)
		report(t, m, "10.0.0.1", "2001:db8:1:2::7")
		check := func(when string) {
			t.Helper()
			if !m.Apart("10.0.0.1", "", "2001:db8:1:2::8", "") || !m.Apart("2001:db8:1:2::7", "", "10.0.0.1", "") {
				t.Fatalf("hashed %v, %s: reporter and reported (its /64) are not kept apart", hashed, when)
			}
			if m.Apart("10.0.0.1", "", "10.0.0.2", "") || m.Apart("10.0.0.3", "", "2001:db8:1:2::7", "") {
				t.Fatalf("hashed %v, %s: clients no report names are kept apart", hashed, when)
			}
		}
		check("at once")
		m.Close()
		m = open(t, dir, clk, edit)
		check("after reopening")
	}
}

// TestIdentitiesAreKeptApartWhenTokensAreOn keeps apart by identity: the
// reported identity from a new address too.
func TestIdentitiesAreKeptApartWhenTokensAreOn(t *testing.T) {
	m := open(t, t.TempDir(), newClock(), nil)
	if _, _, err := m.File(ReportInput{Reason: ReasonSpam,
		Reporter: Client{UserID: "a", IP: "10.0.0.1", Identity: "alice"},
		Reported: Client{UserID: "b", IP: "10.0.0.2", Identity: "bob"}}); err != nil {
		t.Fatal(err)
	}
	if !m.Apart("10.9.9.9", "alice", "10.8.8.8", "bob") {
		t.Fatal("alice and bob, from new addresses, are not kept apart")
	}
}
