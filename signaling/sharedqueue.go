package signaling

import (
	"context"
	"errors"

	"github.com/tandemchat/tandem/cluster"
)

// The hub's side of the shared waiting queue (cluster mode). Every function
// here is called with Hub.mu held and returns without waiting for Redis: it
// queues the call on the outbox, whose goroutine makes it and then applies
// the answer under Hub.mu. So a slow Redis delays the users whose turn it
// is in the queue, never the rest of the hub (chat, typing, offers), and the
// shared queue sees one instance's calls in the order the hub made them.
//
// A waiting session is in one of three places: the local Matchmaker, the
// shared queue (sharedQueued), or on its way there (sharedPending: its Add
// is queued or under way). An answer that comes after the session left the
// queue, or queued again (waitGen moved on), is stale: the Remove its
// dequeue queued behind the call takes its ticket out, and a partner the
// queue handed it is given back (unclaimedLocked).

// errOutboxFull is the failure of a queue call the outbox had no room for.
var errOutboxFull = errors.New("the cluster outbox is full")

// sharedRetries bounds how often one wait is put back in the shared queue
// after it was handed a partner that no longer waited.
const sharedRetries = 5

// laterQueueLocked queues f, a call to the shared queue, on the outbox (as
// later). If a full outbox cannot take it the hub matches locally from now
// on; it reports false when f was not queued.
func (h *Hub) laterQueueLocked(f func(context.Context)) bool {
	if h.later("shared queue call", f) {
		return true
	}
	if !h.shared.shut {
		h.sharedFailedLocked(errOutboxFull)
	}
	return false
}

// queueSharedLocked asks the shared queue to take s (waiting, in no queue).
// Its answer pairs s, or leaves it in the queue and, if tell, sends it
// waiting_for_partner. It reports false if the call could not be queued:
// s is then in no queue and the caller queues it locally.
func (h *Hub) queueSharedLocked(s *Session, open, tell bool) bool {
	t := cluster.Ticket{ID: s.id, Interests: s.interests, Avoid: s.parted, Open: open, Pool: cluster.PoolNormal,
		Info: string(mustJSON(remoteData{IP: s.ip, Identity: s.identity, Interests: s.interests,
			QueuedAt: h.queuedAt[s.id].UnixMilli(), Bridge: h.shared.opts.BridgeAddr}))}
	if s.lowTrust {
		t.Pool = cluster.PoolLowTrust
	}
	if mod := h.opts.Moderation; mod != nil {
		t.Subject = mod.Subject(s.ip, s.identity)
	}
	q, gen := h.shared.opts.Queue, s.waitGen
	s.sharedPending = h.laterQueueLocked(func(ctx context.Context) {
		m, matched, err := q.Add(ctx, t)
		if errors.Is(err, cluster.ErrAlreadyWaiting) { // left behind by a Remove that failed
			if _, err = q.Remove(ctx, t.ID); err == nil {
				m, matched, err = q.Add(ctx, t)
			}
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.addedLocked(s, gen, open, tell, m, matched, err)
	})
	return s.sharedPending
}

// addedLocked applies the shared queue's answer to s's Add (made during
// wait gen).
func (h *Hub) addedLocked(s *Session, gen uint64, open, tell bool, m cluster.Match, matched bool, err error) {
	if h.closed {
		return
	}
	current := s.state == waiting && s.waitGen == gen && s.sharedPending
	if current {
		s.sharedPending = false
	}
	switch {
	case err != nil:
		h.sharedFailedLocked(err)
		if current {
			h.queueLocalLocked(s, open || s.openTimer == nil)
			h.toldWaitingLocked(s, tell)
		}
	case !current && matched:
		h.unclaimedLocked(m)
	case !current: // queued, and taken out by the Remove its dequeue queued
	case matched:
		if !h.pairSharedLocked(s, m) {
			h.requeueSharedLocked(s, open, tell)
		}
	case h.shared.down: // queued as the hub went local: wait here instead
		h.removeSharedLocked(s.id)
		h.queueLocalLocked(s, open || s.openTimer == nil)
		h.toldWaitingLocked(s, tell)
	default:
		s.sharedQueued = true
		h.toldWaitingLocked(s, tell)
		if !open && s.openTimer == nil { // the interest wait ended meanwhile
			h.openSharedLocked(s)
		}
	}
}

// toldWaitingLocked sends s waiting_for_partner if it still waits and tell.
func (h *Hub) toldWaitingLocked(s *Session, tell bool) {
	if tell && s.state == waiting {
		s.enqueue(encode("waiting_for_partner", waitingData{Online: len(h.sessions)}))
	}
}

// requeueSharedLocked puts s back in the shared queue after its partner
// turned out stale, at most sharedRetries times a wait; past that it waits
// in the local Matchmaker.
func (h *Hub) requeueSharedLocked(s *Session, open, tell bool) {
	s.sharedRetries++
	if s.sharedRetries > sharedRetries || !h.sharedActiveLocked() || !h.queueSharedLocked(s, open, tell) {
		h.queueLocalLocked(s, open || s.openTimer == nil)
		h.toldWaitingLocked(s, tell)
	}
}

// openSharedLocked lets s, waiting in the shared queue, take anyone.
func (h *Hub) openSharedLocked(s *Session) {
	q, gen := h.shared.opts.Queue, s.waitGen
	h.laterQueueLocked(func(ctx context.Context) {
		m, matched, err := q.Open(ctx, s.id)
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.closed {
			return
		}
		current := s.state == waiting && s.waitGen == gen && s.sharedQueued
		switch {
		case err != nil:
			h.sharedFailedLocked(err) // s, if still queued, now waits locally, open
		case !matched:
		case !current:
			h.unclaimedLocked(m)
		default:
			s.sharedQueued = false // the script took s out
			if !h.pairSharedLocked(s, m) {
				h.requeueSharedLocked(s, true, false)
			}
		}
	})
}

// removeSharedLocked takes id out of the shared queue.
func (h *Hub) removeSharedLocked(id string) {
	q := h.shared.opts.Queue
	h.laterQueueLocked(func(ctx context.Context) {
		if _, err := q.Remove(ctx, id); err != nil {
			h.sharedFailedUnlocked(err)
		}
	})
}

// blockSharedLocked records in the shared store that a and b are never to
// be paired again.
func (h *Hub) blockSharedLocked(a, b string) {
	if !h.sharedActiveLocked() {
		return
	}
	q := h.shared.opts.Queue
	h.laterQueueLocked(func(ctx context.Context) {
		if err := q.Block(ctx, a, b); err != nil {
			h.sharedFailedUnlocked(err)
		}
	})
}

// sharedFailedUnlocked is sharedFailedLocked for the outbox's goroutine.
func (h *Hub) sharedFailedUnlocked(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.sharedFailedLocked(err)
	}
}

// unclaimedLocked gives back the partner m the shared queue handed to a
// user of this instance who no longer waited: it goes back in the queue,
// told by its own instance if it is on another.
func (h *Hub) unclaimedLocked(m cluster.Match) {
	if m.PartnerInstance != h.shared.opts.Instance {
		h.sendRemote(m.PartnerInstance, cluster.Message{Type: remoteUnclaimed, To: m.Partner,
			Data: mustJSON(remoteData{Instance: h.shared.opts.Instance})})
		return
	}
	h.requeueUnclaimedLocked(h.sessions[m.Partner])
}

// requeueUnclaimedLocked puts p, taken out of the shared queue for a
// partner who had left, back in it (if it still waits there).
func (h *Hub) requeueUnclaimedLocked(p *Session) {
	if p == nil || p.state != waiting || !p.sharedQueued {
		return
	}
	p.sharedQueued = false
	if !h.sharedActiveLocked() || !h.queueSharedLocked(p, p.openTimer == nil, false) {
		h.queueLocalLocked(p, p.openTimer == nil)
	}
}
