package signaling

import "container/list"

// Matchmaker is the waiting queue. It pairs users first come, first served,
// preferring a partner who shares an interest, and never pairs two users who
// just parted while anyone else waits. Two users one of whom blocked (or
// reported) the other are never paired again, and a user in the low-trust
// pool is paired only with others in it.
//
// A user with interests is "closed" when queued: only someone sharing a tag
// may take them, until Open is called (the hub does so after the configured
// interest wait). A user without interests is open at once.
//
// Matchmaker does no locking and no I/O; the Hub calls it with its mutex held.
// Every operation is O(number of the user's interests), plus the waiting
// users it skips as incompatible (a block, the other pool).
type Matchmaker struct {
	seq     uint64
	open    list.List             // of *ticket: waiting users anyone may take, oldest first
	byTag   map[string]*list.List // of *ticket: waiting users with that interest, oldest first
	waiting map[string]*ticket
	blocks  map[string]map[string]bool // user -> users never to be paired with
	low     map[string]bool            // users in the low-trust pool

	// Apart, when set, reports whether two users must never be paired for a
	// reason the Matchmaker does not keep itself (a report in an earlier
	// visit). It is called with the caller's lock held and must not block.
	Apart func(a, b string) bool
}

// ticket is one waiting user's place in the queue.
type ticket struct {
	id        string
	avoid     string // the partner this user just parted from
	low       bool   // in the low-trust pool
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
	return &Matchmaker{
		byTag:   make(map[string]*list.List),
		waiting: make(map[string]*ticket),
		blocks:  make(map[string]map[string]bool),
		low:     make(map[string]bool),
	}
}

// Block makes sure a and b are never paired again (until Forget).
func (m *Matchmaker) Block(a, b string) {
	for _, p := range [][2]string{{a, b}, {b, a}} {
		set := m.blocks[p[0]]
		if set == nil {
			set = make(map[string]bool)
			m.blocks[p[0]] = set
		}
		set[p[1]] = true
	}
}

// SetLowTrust puts id in the low-trust pool (or takes it out) for its next Add.
func (m *Matchmaker) SetLowTrust(id string, low bool) {
	if low {
		m.low[id] = true
	} else {
		delete(m.low, id)
	}
}

// Forget drops what the Matchmaker remembers of id (its blocks, its pool)
// when id's visit ends. id must not be waiting.
func (m *Matchmaker) Forget(id string) {
	for other := range m.blocks[id] {
		delete(m.blocks[other], id)
		if len(m.blocks[other]) == 0 {
			delete(m.blocks, other)
		}
	}
	delete(m.blocks, id)
	delete(m.low, id)
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
	t := &ticket{id: id, avoid: avoid, interests: interests, low: m.low[id]}
	open := openNow || len(interests) == 0
	if other := m.bestSharing(t); other != nil {
		return m.take(t, other), true
	}
	if open {
		if other := m.pick(&m.open, t); other != nil {
			return m.take(t, other), true
		}
	}
	if other := m.onlyParted(t, open); other != nil {
		return m.take(t, other), true
	}
	m.enqueue(t, open)
	return Match{}, false
}

// Open lets a waiting user with interests take anyone: it is paired with the
// oldest open user if there is one, or stays queued as open.
func (m *Matchmaker) Open(id string) (Match, bool) {
	t := m.waiting[id]
	if t == nil || t.openElem != nil {
		return Match{}, false
	}
	m.remove(t)
	if other := m.pick(&m.open, t); other != nil {
		return m.take(t, other), true
	}
	if other := m.onlyParted(t, true); other != nil {
		return m.take(t, other), true
	}
	m.enqueue(t, true)
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

// take removes other from the queue and pairs it with t.
func (m *Matchmaker) take(t, other *ticket) Match {
	m.remove(other)
	return newMatch(t, other)
}

// bestSharing finds the longest-waiting user who shares an interest with t
// and is not the partner t just parted from.
func (m *Matchmaker) bestSharing(t *ticket) *ticket {
	var best *ticket
	for _, tag := range t.interests {
		l := m.byTag[tag]
		if l == nil {
			continue
		}
		if c := m.pick(l, t); c != nil && (best == nil || c.seq < best.seq) {
			best = c
		}
	}
	return best
}

// onlyParted returns the partner t just parted from when that partner is
// the only one waiting and t may take them (a shared interest, or both open
// to anyone): the two are paired again only when nobody else waits.
func (m *Matchmaker) onlyParted(t *ticket, open bool) *ticket {
	if len(m.waiting) != 1 {
		return nil
	}
	for _, c := range m.waiting {
		if !parted(t, c) || !m.compatible(t, c) {
			return nil
		}
		if len(newMatch(t, c).Common) > 0 || (open && c.openElem != nil) {
			return c
		}
	}
	return nil
}

// pick returns the first ticket in l that t may be paired with: never t
// itself, nor the partner t just parted from, nor an incompatible one.
func (m *Matchmaker) pick(l *list.List, t *ticket) *ticket {
	for e := l.Front(); e != nil; e = e.Next() {
		if c := e.Value.(*ticket); !parted(t, c) && m.compatible(t, c) {
			return c
		}
	}
	return nil
}

// compatible reports whether t and c may ever be paired: not the same user,
// in the same pool, neither blocked the other, and nothing keeps them Apart.
func (m *Matchmaker) compatible(t, c *ticket) bool {
	return c.id != t.id && t.low == c.low && !m.blocks[t.id][c.id] && (m.Apart == nil || !m.Apart(t.id, c.id))
}

// parted reports whether a and b just parted from each other.
func parted(a, b *ticket) bool {
	return a.avoid == b.id || b.avoid == a.id
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
