package livetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/tandemchat/tandem/sfu/synth"
)

// MediaUser is a WebSocket client with a synthetic Pion client behind it.
// Its pump goroutine applies the server's answers and candidates to the
// Pion client and passes every other message to Other; the test's cleanup
// ends both.
type MediaUser struct {
	WS    *Client
	Media *synth.Client
	// Other receives every message but webrtc_answer and ice_candidate.
	// Messages are dropped when it is full, so the pump never blocks.
	Other chan Message
}

// NewMediaUser dials srv, makes a Pion client with opts and sends no offer
// yet (see Offer).
func NewMediaUser(t testing.TB, srv *Server, opts synth.Options) *MediaUser {
	t.Helper()
	return NewMediaUserAt(t, srv.WSURL, opts)
}

// NewMediaUserAt is NewMediaUser for the WebSocket URL wsURL (a server of
// another process, or a proxy in front of servers).
func NewMediaUserAt(t testing.TB, wsURL string, opts synth.Options) *MediaUser {
	t.Helper()
	ws := MustDial(t, wsURL)
	media, err := synth.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	u := &MediaUser{WS: ws, Media: media, Other: make(chan Message, 64)}
	media.OnLocalCandidate(func(c webrtc.ICECandidateInit) { ws.TrySend("ice_candidate", c) })
	pumped := make(chan struct{})
	go u.pump(pumped)
	t.Cleanup(func() {
		ws.Close()
		<-pumped
		media.Close()
	})
	return u
}

// Offer sends the Pion client's offer; the pump applies the answer and
// starts the media.
func (u *MediaUser) Offer(t testing.TB) {
	t.Helper()
	sdp, err := u.Media.Offer(false)
	if err != nil {
		t.Fatal(err)
	}
	u.WS.Send("webrtc_offer", map[string]string{"sdp": sdp})
}

func (u *MediaUser) pump(done chan<- struct{}) {
	defer close(done)
	defer close(u.Other)
	for m := range u.WS.Messages() {
		switch m.Type {
		case "webrtc_answer":
			var d struct{ SDP string }
			if json.Unmarshal(m.Data, &d) == nil && u.Media.SetAnswer(d.SDP) == nil {
				u.Media.Start()
			}
		case "ice_candidate":
			var c webrtc.ICECandidateInit
			if json.Unmarshal(m.Data, &c) == nil {
				u.Media.AddRemoteCandidate(c)
			}
		default:
			select {
			case u.Other <- m:
			default:
			}
		}
	}
}

// WaitFor skips messages until one of type typ and returns it, failing the
// test after WaitFor.
func (u *MediaUser) WaitFor(t testing.TB, typ string) Message {
	t.Helper()
	deadline := time.After(WaitFor)
	for {
		select {
		case m, ok := <-u.Other:
			if !ok {
				t.Fatalf("want %s, connection ended", typ)
			}
			if m.Type == typ {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s within %v", typ, WaitFor)
		}
	}
}

// WaitForError skips messages until an error with code and returns its
// message text.
func (u *MediaUser) WaitForError(t testing.TB, code string) string {
	t.Helper()
	deadline := time.Now().Add(WaitFor)
	for time.Now().Before(deadline) {
		m := u.WaitFor(t, "error")
		var d struct{ Code, Message string }
		if json.Unmarshal(m.Data, &d) == nil && d.Code == code {
			return d.Message
		}
	}
	t.Fatalf("no error %s within %v", code, WaitFor)
	return ""
}

// WaitConnected waits until u's Pion client is connected to the server,
// failing the test after WaitFor.
func (u *MediaUser) WaitConnected(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(WaitFor)
	for u.Media.PC().ConnectionState() != webrtc.PeerConnectionStateConnected {
		if time.Now().After(deadline) {
			t.Fatalf("not connected within %v: %s", WaitFor, u.Media.PC().ConnectionState())
		}
		time.Sleep(20 * time.Millisecond) // polling Pion's state
	}
}

// WaitPackets waits until u received n packets the Pion client of source
// sent, failing the test after WaitFor.
func (u *MediaUser) WaitPackets(t testing.TB, source uint32, n int) {
	t.Helper()
	deadline := time.Now().Add(WaitFor)
	for {
		got := 0
		for _, p := range u.Media.Packets() {
			if p.Source == source {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d packets of source %d within %v, want %d", got, source, WaitFor, n)
		}
		time.Sleep(20 * time.Millisecond) // polling the recorded packets
	}
}
