package signaling

import "container/list"

// Matchmaker is the waiting queue. It pairs users first come, first served,
// preferring a partner who shares an interest, and never pairs two users who
// just parted while anyone else waits.
//
// A user with interests is "closed" when queued: only someone sharing a tag
// may take them, until Open is called (the hub does so after the configured
// interest wait). A user without interests is open at once.
//
// Matchmaker does no locking and no I/O; the Hub calls it with its mutex held.
// Every operation is O(number of the user's interests).
type Matchmaker struct {
	seq     uint64
	open    list.List             // of *ticket: waiting users anyone may take, oldest first
	byTag   map[string]*list.List // of *ticket: waiting users with that interest, oldest first
	waiting map[string]*ticket
}

// ticket is one waiting user's place in the queue.
type ticket struct {
	id        string
	avoid     string // the partner this user just parted from
	interests []string
	seq       uint64          // enqueue order, lower is older
	openElem  *list.Element   // in Matchmaker.open, nil while closed
	tagElems  []*list.Element // in Matchmaker.byTag, parallel to interests
}

// Match is a pair the Matchmaker made; A is the user whose call made it.
type Match struct {
	A, B   string
	Common []string // interests both share, in A's order; never nil
}

// NewMatchmaker returns an empty queue.
func NewMatchmaker() *Matchmaker {
	return &Matchmaker{byTag: make(map[string]*list.List), waiting: make(map[string]*ticket)}
}

// Len is the number of waiting users.
func (m *Matchmaker) Len() int { return len(m.waiting) }

// Waiting reports whether id is in the queue.
func (m *Matchmaker) Waiting(id string) bool { return m.waiting[id] != nil }

// Add pairs id at once if it can, or queues it. avoid names the partner id
// just parted from. With interests, id only takes a partner sharing one;
// openNow lets it take anyone at once (the interest wait is zero, or it has
// no interests). id must not be waiting already.
func (m *Matchmaker) Add(id string, interests []string, avoid string, openNow bool) (Match, bool) {
	t := &ticket{id: id, avoid: avoid, interests: interests}
	if other := m.bestSharing(t); other != nil {
		m.remove(other)
		return newMatch(t, other), true
	}
	if openNow || len(interests) == 0 {
		if other := m.oldestOpen(t); other != nil {
			m.remove(other)
			return newMatch(t, other), true
		}
	}
	m.enqueue(t, openNow || len(interests) == 0)
	return Match{}, false
}

// Open lets a waiting user with interests take anyone: it is paired with the
// oldest open user if there is one, or stays queued as open.
func (m *Matchmaker) Open(id string) (Match, bool) {
	t := m.waiting[id]
	if t == nil || t.openElem != nil {
		return Match{}, false
	}
	if other := m.oldestOpen(t); other != nil {
		m.remove(t)
		m.remove(other)
		return newMatch(t, other), true
	}
	t.openElem = m.open.PushBack(t)
	return Match{}, false
}

// Remove takes id out of the queue; it reports whether id was waiting.
func (m *Matchmaker) Remove(id string) bool {
	t := m.waiting[id]
	if t == nil {
		return false
	}
	m.remove(t)
	return true
}

func (m *Matchmaker) enqueue(t *ticket, open bool) {
	m.seq++
	t.seq = m.seq
	m.waiting[t.id] = t
	if open {
		t.openElem = m.open.PushBack(t)
	}
	t.tagElems = make([]*list.Element, len(t.interests))
	for i, tag := range t.interests {
		l := m.byTag[tag]
		if l == nil {
			l = list.New()
			m.byTag[tag] = l
		}
		t.tagElems[i] = l.PushBack(t)
	}
}

func (m *Matchmaker) remove(t *ticket) {
	delete(m.waiting, t.id)
	if t.openElem != nil {
		m.open.Remove(t.openElem)
		t.openElem = nil
	}
	for i, e := range t.tagElems {
		l := m.byTag[t.interests[i]]
		l.Remove(e)
		if l.Len() == 0 {
			delete(m.byTag, t.interests[i])
		}
	}
	t.tagElems = nil
}

// bestSharing finds the longest-waiting user who shares an interest with t.
func (m *Matchmaker) bestSharing(t *ticket) *ticket {
	var best *ticket
	for _, tag := range t.interests {
		l := m.byTag[tag]
		if l == nil {
			continue
		}
		if c := pick(l, t); c != nil && (best == nil || c.seq < best.seq) {
			best = c
		}
	}
	return best
}

// oldestOpen finds the longest-waiting user open to anyone.
func (m *Matchmaker) oldestOpen(t *ticket) *ticket {
	return pick(&m.open, t)
}

// pick returns the first ticket in l that t may be paired with: never t
// itself, and the partner t just parted from only when nobody else is there.
func pick(l *list.List, t *ticket) *ticket {
	var parted *ticket
	for e := l.Front(); e != nil; e = e.Next() {
		c := e.Value.(*ticket)
		switch {
		case c.id == t.id:
		case c.id == t.avoid || c.avoid == t.id:
			if parted == nil {
				parted = c
			}
		default:
			return c
		}
	}
	return parted
}

func newMatch(a, b *ticket) Match {
	common := []string{}
	for _, x := range a.interests {
		for _, y := range b.interests {
			if x == y {
				common = append(common, x)
				break
			}
		}
	}
	return Match{A: a.id, B: b.id, Common: common}
}
