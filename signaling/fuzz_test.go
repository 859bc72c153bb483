package signaling

import (
	"strings"
	"testing"

	"github.com/tandemchat/tandem/moderation"
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
		`{"type":"report_partner","data":{"reason":"nudity","comment":"x"}}`,
		`{"type":"report_partner","data":{"reason":5}}`,
		`{"type":"report_partner","data":{"comment":null}}`,
		`{"type":"block_partner"}`,
		`{"type":"block_partner","data":[1]}`,
		`{"type":"accept_terms","data":{"x":1}}`,
		`{"type":"chat_message","data":{"text":"see www.example.com"}}`,
		`{"type":1}`, `[]`, `null`, `"x"`, `{`, ``,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	h := newTestHub(f, func(o *Options) {
		o.Moderation = openModeration(f, nil)
		o.Terms = "Be kind."
		o.ChatLinks = "refuse"
	})
	known := map[string]bool{
		CodeBadMessage: true, CodeUnknownType: true, CodeRateLimited: true, CodeNotInRoom: true,
		CodeBadSDP: true, CodeDraining: true, CodeAlreadyPaired: true, CodeMediaError: true,
		CodeTermsRequired: true, CodeSlowDown: true, CodeLinkRefused: true,
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

// FuzzModerationHandlers feeds arbitrary frames to a session that has a
// partner, so report_partner, block_partner and chat reach past the
// not_in_room check: the hub must not panic, refusals carry known codes, and
// the pair has ended after a report or a block.
func FuzzModerationHandlers(f *testing.F) {
	for _, s := range []string{
		`{"type":"report_partner","data":{"reason":"nudity","comment":"x"}}`,
		`{"type":"report_partner","data":{"reason":"other","comment":"` + strings.Repeat("é", 501) + `"}}`,
		`{"type":"report_partner","data":{"reason":"spam","extra":[1,2]}}`,
		`{"type":"report_partner","data":"spam"}`,
		`{"type":"block_partner"}`,
		`{"type":"accept_terms"}`,
		`{"type":"chat_message","data":{"text":"http://x.io and www.y"}}`,
	} {
		f.Add([]byte(s))
	}
	h := newTestHub(f, func(o *Options) {
		o.Moderation = openModeration(f, func(c *moderation.Config) { c.ReportThreshold = 0 })
		o.ChatLinks = "strip"
	})
	known := map[string]bool{
		CodeBadMessage: true, CodeUnknownType: true, CodeRateLimited: true, CodeNotInRoom: true,
		CodeBadSDP: true, CodeAlreadyPaired: true, CodeMediaError: true, CodeSlowDown: true,
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		a, b := h.detachedSessionID("fuzz-a"), h.detachedSessionID("fuzz-b")
		defer h.unregister(b)
		defer h.unregister(a)
		h.mu.Lock()
		h.pairLocked(Match{A: a.id, B: b.id, Common: []string{}})
		h.mu.Unlock()
		werr := h.handle(a, frame)
		if werr != nil && (!known[werr.Code] || werr.Message == "") {
			t.Fatalf("refusal %q %q for %q", werr.Code, werr.Message, frame)
		}
		env, _ := decodeEnvelope(frame)
		h.mu.Lock()
		defer h.mu.Unlock()
		if werr == nil && (env.Type == "report_partner" || env.Type == "block_partner") && a.state == paired {
			t.Fatalf("%s accepted but the pair goes on", env.Type)
		}
	})
}

// detachedSession registers a session with no connection, whose queue is
// large enough that handling one frame never fills it.
func (h *Hub) detachedSession() *Session { return h.detachedSessionID("fuzz") }

// detachedSessionID is detachedSession with the given user id.
func (h *Hub) detachedSessionID(id string) *Session {
	s := &Session{id: id, hub: h, log: h.log, send: make(chan []byte, 1024), done: make(chan struct{})}
	s.chatLimit, s.offerLimit, s.nextLimit = newChatLimiter(h.opts), newOfferLimiter(h.opts), newNextLimiter(h.opts)
	s.peer = h.media.NewPeer(s.id, peerEvents(h, s))
	s.log = h.log.With("user", id)
	h.mu.Lock()
	h.sessions[s.id] = s
	h.mu.Unlock()
	return s
}
