package signaling

import (
	"strings"
	"testing"
)

// FuzzHandle feeds arbitrary frames to the message handlers of a real hub.
// Whatever arrives, the hub must not panic, and every refusal must carry a
// known code and a message for a person.
func FuzzHandle(f *testing.F) {
	seeds := []string{
		`{"type":"find_partner","data":{"interests":["music","go"]}}`,
		`{"type":"find_partner"}`,
		`{"type":"next_partner"}`,
		`{"type":"leave","data":null}`,
		`{"type":"chat_message","data":{"text":"hi"}}`,
		`{"type":"typing","data":{"active":true}}`,
		`{"type":"webrtc_offer","data":{"sdp":"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}}`,
		`{"type":"webrtc_answer","data":{"sdp":"v=0"}}`,
		`{"type":"ice_candidate","data":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"type":"ice_candidate","data":{"candidate":""}}`,
		`{"type":"chat_message","data":{"text":"` + strings.Repeat("\xff", 10) + `"}}`,
		`{"type":1}`, `[]`, `null`, `"x"`, `{`, ``,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	h := newTestHub(f, nil)
	known := map[string]bool{
		CodeBadMessage: true, CodeUnknownType: true, CodeRateLimited: true, CodeNotInRoom: true,
		CodeBadSDP: true, CodeDraining: true, CodeAlreadyPaired: true, CodeMediaError: true,
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		s := h.detachedSession()
		defer h.unregister(s)
		if werr := h.handle(s, frame); werr != nil {
			if !known[werr.Code] || werr.Message == "" {
				t.Fatalf("refusal %q %q for %q", werr.Code, werr.Message, frame)
			}
		}
	})
}

// detachedSession registers a session with no connection, whose queue is
// large enough that handling one frame never fills it.
func (h *Hub) detachedSession() *Session {
	s := &Session{id: "fuzz", hub: h, log: h.log, send: make(chan []byte, 1024), done: make(chan struct{})}
	s.chatLimit, s.offerLimit = newChatLimiter(h.opts), newOfferLimiter(h.opts)
	s.peer = h.media.NewPeer(s.id, peerEvents(h, s))
	h.mu.Lock()
	h.sessions[s.id] = s
	h.mu.Unlock()
	return s
}
