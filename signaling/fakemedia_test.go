package signaling

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeMedia is a Media without an SFU, for the hub's unit tests: it records
// every Pair and Unpair in order, accepts no offer (each is bad_sdp) and
// reports its peers' failures when a test calls fail.
type fakeMedia struct {
	mu    sync.Mutex
	calls []string // "pair a b" and "unpair a b", by user id
	peers map[string]*fakePeer
}

func newFakeMedia() *fakeMedia { return &fakeMedia{peers: map[string]*fakePeer{}} }

type fakePeer struct {
	id     string
	ev     MediaEvents
	closed bool
	paused atomic.Bool // the video the client receives is paused (setPaused)
}

func (m *fakeMedia) NewPeer(userID string, ev MediaEvents) MediaPeer {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := &fakePeer{id: userID, ev: ev}
	m.peers[userID] = p
	return p
}

func (m *fakeMedia) Pair(a, b MediaPeer)   { m.record("pair", a, b) }
func (m *fakeMedia) Unpair(a, b MediaPeer) { m.record("unpair", a, b) }

func (m *fakeMedia) record(op string, a, b MediaPeer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, fmt.Sprintf("%s %s %s", op, a.(*fakePeer).id, b.(*fakePeer).id))
}

// callsSince returns the calls recorded after the first n, as one string.
func (m *fakeMedia) callsSince(n int) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.calls[min(n, len(m.calls)):], "; ")
}

// expectCallsSince waits until the calls recorded after the first n are
// want. The hub makes them under its mutex, but the clients' writers may
// deliver the messages queued in the same step before the last call is
// made, so a test that has its messages waits for the calls too.
func (m *fakeMedia) expectCallsSince(t *testing.T, n int, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := m.callsSince(n)
		if got == want {
			return
		}
		if !strings.HasPrefix(want, got) || time.Now().After(deadline) {
			t.Fatalf("media calls %q, want %q", got, want)
		}
		time.Sleep(time.Millisecond) // polling the recorded calls, with a deadline
	}
}

func (m *fakeMedia) callCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.calls)
}

// fail reports a media failure of userID's peer, as the SFU would.
func (m *fakeMedia) fail(userID string) {
	m.mu.Lock()
	p := m.peers[userID]
	m.mu.Unlock()
	p.ev.OnFailed(fmt.Errorf("fake failure"))
}

// setPaused pauses or resumes the video userID's client receives and reports
// it, as the SFU would.
func (m *fakeMedia) setPaused(userID string, paused bool) {
	m.mu.Lock()
	p := m.peers[userID]
	m.mu.Unlock()
	p.paused.Store(paused)
	p.ev.OnVideoPaused(paused)
}

func (p *fakePeer) HandleOffer(sdp string) (string, error) {
	return "", fmt.Errorf("the fake media takes no offer: %w", ErrBadSDP)
}
func (p *fakePeer) HandleAnswer(string) error    { return fmt.Errorf("no server offer: %w", ErrBadSDP) }
func (p *fakePeer) AddCandidate(Candidate) error { return nil }
func (p *fakePeer) Failed() bool                 { return false }
func (p *fakePeer) VideoPaused() bool            { return p.paused.Load() }
func (p *fakePeer) Stats() MediaStats            { return MediaStats{} }
func (p *fakePeer) Close() error                 { p.closed = true; return nil }
