package signaling

import (
	"fmt"
	"reflect"
	"testing"
)

// step is one matchmaker call in a table test.
type step struct {
	op        string // add, open, remove
	id        string
	interests []string
	avoid     string
	openNow   bool
	want      *Match // nil: no match expected
}

func match(a, b string, common ...string) *Match {
	if common == nil {
		common = []string{}
	}
	return &Match{A: a, B: b, Common: common}
}

func TestMatchmakerTable(t *testing.T) {
	tests := []struct {
		name      string
		steps     []step
		leftAfter int
	}{
		{"first come first served", []step{
			{op: "add", id: "a"},
			{op: "add", id: "b", want: match("b", "a")},
			{op: "add", id: "c"},
			{op: "add", id: "d", want: match("d", "c")},
		}, 0},
		{"oldest waiting is taken first", []step{
			{op: "add", id: "x", interests: []string{"chess"}}, // closed: waits for chess
			{op: "add", id: "a", avoid: "b"},
			{op: "add", id: "b", avoid: "a"}, // b just parted from a: both wait
			{op: "add", id: "c", want: match("c", "a")},
		}, 2},
		{"never paired with oneself after a re-add", []step{
			{op: "add", id: "a"},
			{op: "remove", id: "a"},
			{op: "add", id: "a"},
		}, 1},
		{"removed users are not matched", []step{
			{op: "add", id: "a"},
			{op: "remove", id: "a"},
			{op: "add", id: "b"},
		}, 1},
		{"just parted are not re-paired while someone else waits", []step{
			{op: "add", id: "c", interests: []string{"chess"}}, // closed: waits for chess
			{op: "add", id: "a", avoid: "b"},
			{op: "add", id: "b", avoid: "a"},
		}, 3},
		{"just parted are re-paired when nobody else waits", []step{
			{op: "add", id: "a", avoid: "b"},
			{op: "add", id: "b", avoid: "a", want: match("b", "a")},
		}, 0},
		{"parted pair skipped for a third", []step{
			{op: "add", id: "a", avoid: "b"},
			{op: "add", id: "c", interests: []string{"go"}},
			{op: "add", id: "b", avoid: "a", interests: []string{"go"}, want: match("b", "c", "go")},
		}, 1},
		{"shared interest preferred over older stranger", []step{
			{op: "add", id: "a"},
			{op: "add", id: "b", interests: []string{"music", "go"}},
			{op: "add", id: "c", interests: []string{"go"}, want: match("c", "b", "go")},
		}, 1},
		{"tagged user does not take a stranger before the wait", []step{
			{op: "add", id: "a"},
			{op: "add", id: "b", interests: []string{"go"}},
		}, 2},
		{"open after the wait takes the oldest stranger", []step{
			{op: "add", id: "a"},
			{op: "add", id: "b", interests: []string{"go"}},
			{op: "open", id: "b", want: match("b", "a")},
		}, 0},
		{"open with nobody waiting stays queued and open", []step{
			{op: "add", id: "b", interests: []string{"go"}},
			{op: "open", id: "b"},
			{op: "add", id: "c", want: match("c", "b")},
		}, 0},
		{"zero interest wait means open at once", []step{
			{op: "add", id: "a"},
			{op: "add", id: "b", interests: []string{"go"}, openNow: true, want: match("b", "a")},
		}, 0},
		{"common interests in the caller's order", []step{
			{op: "add", id: "a", interests: []string{"x", "go", "art"}},
			{op: "add", id: "b", interests: []string{"art", "go"}, want: match("b", "a", "art", "go")},
		}, 0},
		{"oldest sharing user across tags", []step{
			{op: "add", id: "a", interests: []string{"art"}},
			{op: "add", id: "b", interests: []string{"go"}},
			{op: "add", id: "c", interests: []string{"go", "art"}, want: match("c", "a", "art")},
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMatchmaker()
			for i, s := range tc.steps {
				var got Match
				var ok bool
				switch s.op {
				case "add":
					got, ok = m.Add(s.id, s.interests, s.avoid, s.openNow)
				case "open":
					got, ok = m.Open(s.id)
				case "remove":
					m.Remove(s.id)
				}
				switch {
				case s.want == nil && ok:
					t.Fatalf("step %d (%s %s): unexpected match %+v", i, s.op, s.id, got)
				case s.want != nil && !ok:
					t.Fatalf("step %d (%s %s): no match, want %+v", i, s.op, s.id, *s.want)
				case s.want != nil && !reflect.DeepEqual(got, *s.want):
					t.Fatalf("step %d (%s %s): got %+v, want %+v", i, s.op, s.id, got, *s.want)
				}
			}
			if m.Len() != tc.leftAfter {
				t.Fatalf("%d left waiting, want %d", m.Len(), tc.leftAfter)
			}
			checkMatchmaker(t, m)
		})
	}
}

// checkMatchmaker verifies the queue's indexes agree with its waiting set.
func checkMatchmaker(t *testing.T, m *Matchmaker) {
	t.Helper()
	inOpen := 0
	for e := m.open.Front(); e != nil; e = e.Next() {
		tk := e.Value.(*ticket)
		if m.waiting[tk.id] != tk {
			t.Fatalf("open list holds %s, which is not waiting", tk.id)
		}
		inOpen++
	}
	tagged := 0
	for tag, l := range m.byTag {
		if l.Len() == 0 {
			t.Fatalf("empty list kept for tag %q", tag)
		}
		tagged += l.Len()
	}
	wantOpen, wantTagged := 0, 0
	for _, tk := range m.waiting {
		if tk.openElem != nil {
			wantOpen++
		}
		wantTagged += len(tk.interests)
	}
	if inOpen != wantOpen || tagged != wantTagged {
		t.Fatalf("indexes out of step: open %d/%d, tagged %d/%d", inOpen, wantOpen, tagged, wantTagged)
	}
}

func TestMatchmakerRemoveUnknownIsHarmless(t *testing.T) {
	m := NewMatchmaker()
	if m.Remove("nobody") {
		t.Fatal("Remove of an unknown id reported true")
	}
	if _, ok := m.Open("nobody"); ok {
		t.Fatal("Open of an unknown id matched")
	}
}

// BenchmarkMatchmakerWith10000Waiting measures, per iteration, two finds
// matched to each other and one find matched on a shared tag, while 10,000
// users with interests nobody else shares wait in the queue.
func BenchmarkMatchmakerWith10000Waiting(b *testing.B) {
	m := NewMatchmaker()
	for i := 0; i < 10000; i++ {
		m.Add(fmt.Sprintf("w%d", i), []string{fmt.Sprintf("tag%d", i)}, "", false)
	}
	ids := make([]string, 2*b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("u%d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Add(ids[2*i], nil, "", true)
		if _, ok := m.Add(ids[2*i+1], nil, "", true); !ok {
			b.Fatal("no match between two open users")
		}
		if _, ok := m.Add("t", []string{"tag5000"}, "", true); !ok {
			b.Fatal("no match on a shared tag")
		}
		// Put the tag5000 user back so every iteration sees 10,000 waiting.
		m.Add("w5000", []string{"tag5000"}, "", false)
	}
	b.StopTimer()
	if m.Len() != 10000 {
		b.Fatalf("queue length %d", m.Len())
	}
}

func TestMatchmakerBlocksAndPools(t *testing.T) {
	m := NewMatchmaker()
	m.Block("a", "b")
	if _, ok := m.Add("a", nil, "", true); ok {
		t.Fatal("a paired with nobody waiting")
	}
	if got, ok := m.Add("b", nil, "", true); ok {
		t.Fatalf("blocked pair matched: %+v", got)
	}
	m.SetLowTrust("c", true)
	if got, ok := m.Add("c", nil, "", true); ok {
		t.Fatalf("low-trust c matched with %+v", got)
	}
	m.SetLowTrust("d", true)
	if got, ok := m.Add("d", nil, "", true); !ok || got.B != "c" {
		t.Fatalf("d: %+v %v, want paired with c", got, ok)
	}
	if got, ok := m.Add("e", nil, "", true); !ok || got.B != "a" {
		t.Fatalf("e: %+v %v, want paired with a (oldest)", got, ok)
	}
	m.Remove("b")
	m.Forget("a")
	m.Forget("b")
	if len(m.blocks) != 0 || len(m.low) != 2 {
		t.Fatalf("forgotten state kept: blocks %v low %v", m.blocks, m.low)
	}
}
