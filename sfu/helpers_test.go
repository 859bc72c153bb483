package sfu_test

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/sfu/synth"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout is generous: CI runs the whole suite on two loaded cores.
const waitTimeout = 20 * time.Second

// newSFU starts an SFU on loopback, closed at the end of the test.
func newSFU(t *testing.T, cfg sfu.Config) *sfu.SFU {
	t.Helper()
	if cfg.ICEIPs == nil {
		cfg.ICEIPs = []string{"127.0.0.1"}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := sfu.New(cfg, log)
	if err != nil {
		t.Fatalf("sfu.New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("sfu close: %v", err)
		}
	})
	return s
}

// endpoint is a synthetic client connected to its server-side Peer.
type endpoint struct {
	peer   *sfu.Peer
	client *synth.Client
	failed chan error // receives OnFailed's error
	fails  atomic.Int32
	paused chan bool // receives OnVideoPaused's state

	// While a renegotiation is signalled, the client's new candidates are held back until the
	// offer was handled, as a WebSocket delivers them after the offer.
	mu      sync.Mutex
	holding bool
	held    []webrtc.ICECandidateInit
}

// sendCandidate trickles a client candidate to the Peer, or holds it during a renegotiation.
func (ep *endpoint) sendCandidate(t *testing.T, c webrtc.ICECandidateInit) {
	ep.mu.Lock()
	if ep.holding {
		ep.held = append(ep.held, c)
		ep.mu.Unlock()
		return
	}
	ep.mu.Unlock()
	if err := ep.peer.AddICECandidate(c); err != nil {
		t.Errorf("peer add candidate: %v", err)
	}
}

var nextSource atomic.Uint32

// connect creates a client and its Peer, negotiates with trickle ICE both ways, waits for the
// connection and starts the client's media. Both are closed at the end of the test.
func connect(t *testing.T, s *sfu.SFU, send bool) *endpoint {
	t.Helper()
	return connectWith(t, s, synth.Options{Send: send})
}

// connectWith is connect with more client options (Source and Record are set here).
func connectWith(t *testing.T, s *sfu.SFU, opts synth.Options) *endpoint {
	t.Helper()
	return connectPrepared(t, s, opts, nil)
}

// connectPrepared is connectWith, calling prepare with the new Peer before its first offer.
func connectPrepared(t *testing.T, s *sfu.SFU, opts synth.Options, prepare func(*sfu.Peer)) *endpoint {
	t.Helper()
	return connectVia(t, s, opts, prepare, nil)
}

// connectVia is connectPrepared with route applied to every server candidate before the
// client sees it (to put a proxy in the media path).
func connectVia(t *testing.T, s *sfu.SFU, opts synth.Options, prepare func(*sfu.Peer),
	route func(webrtc.ICECandidateInit) webrtc.ICECandidateInit) *endpoint {
	t.Helper()
	opts.Source, opts.Record = nextSource.Add(1), true
	client, err := synth.New(opts)
	if err != nil {
		t.Fatalf("synth.New: %v", err)
	}
	ep := &endpoint{client: client, failed: make(chan error, 4), paused: make(chan bool, 16)}
	ep.peer = s.NewPeer(fmt.Sprintf("peer-%d", client.Source()), sfu.PeerEvents{
		OnICECandidate: func(c webrtc.ICECandidateInit) {
			if route != nil {
				c = route(c)
			}
			if err := client.AddRemoteCandidate(c); err != nil {
				t.Errorf("client add candidate: %v", err)
			}
		},
		OnFailed: func(err error) {
			ep.fails.Add(1)
			ep.failed <- err
		},
		OnVideoPaused: func(paused bool) { ep.paused <- paused },
	})
	// Registered before the offer, so some candidates reach the Peer before its first offer.
	client.OnLocalCandidate(func(c webrtc.ICECandidateInit) { ep.sendCandidate(t, c) })
	t.Cleanup(func() {
		if err := client.Close(); err != nil {
			t.Errorf("client close: %v", err)
		}
		if err := ep.peer.Close(); err != nil {
			t.Errorf("peer close: %v", err)
		}
	})
	if prepare != nil {
		prepare(ep.peer)
	}
	negotiate(t, ep, false)
	waitFor(t, "client connected", func() bool {
		return client.PC().ConnectionState() == webrtc.PeerConnectionStateConnected
	})
	client.Start()
	return ep
}

// negotiate runs one offer/answer round started by the client.
func negotiate(t *testing.T, ep *endpoint, iceRestart bool) {
	t.Helper()
	// On the first offer, candidates go straight on: the Peer must queue them itself.
	ep.mu.Lock()
	ep.holding = iceRestart
	ep.mu.Unlock()
	offer, err := ep.client.Offer(iceRestart)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := ep.peer.HandleOffer(offer)
	if err != nil {
		t.Fatalf("HandleOffer: %v", err)
	}
	ep.mu.Lock()
	held := ep.held
	ep.held, ep.holding = nil, false
	ep.mu.Unlock()
	for _, c := range held {
		ep.sendCandidate(t, c)
	}
	if err := ep.client.SetAnswer(answer); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// from returns the packets of one kind that came from source.
func from(pkts []synth.Packet, kind webrtc.RTPCodecType, source uint32) []synth.Packet {
	var out []synth.Packet
	for _, p := range pkts {
		if p.Kind == kind && p.Source == source {
			out = append(out, p)
		}
	}
	return out
}

// ofKind returns the packets of one kind.
func ofKind(pkts []synth.Packet, kind webrtc.RTPCodecType) []synth.Packet {
	var out []synth.Packet
	for _, p := range pkts {
		if p.Kind == kind {
			out = append(out, p)
		}
	}
	return out
}

// countFrom waits until ep received at least n packets of kind from src.
func (ep *endpoint) waitPackets(t *testing.T, kind webrtc.RTPCodecType, src *endpoint, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d %s packets from source %d", n, kind, src.client.Source()), func() bool {
		return len(from(ep.client.Packets(), kind, src.client.Source())) >= n
	})
}
