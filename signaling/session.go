package signaling

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
)

// state is where a session stands in matchmaking.
type state int

const (
	idle state = iota
	waiting
	paired
)

// Session is one WebSocket client: one user, one media Peer, one reader and
// one writer goroutine, and a bounded queue of outgoing messages.
//
// The reader goroutine is the one Hub.ServeHTTP starts (Hub.run); it alone reads
// the connection and calls the media peer. The writer goroutine alone
// writes data frames. Fields under "guarded by Hub.mu" are matchmaking state.
type Session struct {
	id   string
	hub  *Hub
	conn *websocket.Conn
	log  *slog.Logger
	peer MediaPeer
	ip   string
	// identity is the access token's subject ("" when tokens are off).
	identity string

	send       chan []byte   // outgoing frames; full means the client is too slow
	done       chan struct{} // closed by kill
	writerDone chan struct{} // closed when the writer goroutine returns
	closeOnce  sync.Once
	closeCode  int // the close status the writer sends; set before done closes
	closeText  string

	// Used by the reader goroutine only.
	msgLimit   *rate.Limiter
	chatLimit  *rate.Limiter
	offerLimit *rate.Limiter
	nextLimit  *rate.Limiter // find_partner and next_partner; nil when unlimited
	accepted   bool          // sent accept_terms
	flooded    int           // messages dropped by msgLimit since the last one it allowed
	mediaSlot  bool          // holds a slot of Hub.mediaSlots (taken by the first offer; also read by unregister, after the reader)

	// Typing indicators from the partner are coalesced: at most one waits in send (as
	// typingMarker), and the writer sends the latest state when it gets to it.
	typingQueued atomic.Bool
	typingActive atomic.Bool

	// Guarded by Hub.mu.
	state     state
	room      *Room
	interests []string
	parted    string      // id of the partner this user last parted from
	waitGen   uint64      // bumps on each enqueue, so a stale interest timer is ignored
	openTimer *time.Timer // opens a waiting user with interests to anyone
	lowTrust  bool        // in the low-trust pool for this wait
	// sharedQueued: waiting in the cluster's shared queue (not the local Matchmaker);
	// sharedPending: on its way there (sharedqueue.go); sharedRetries: how often this
	// wait was put back after a stale partner.
	sharedQueued, sharedPending bool
	sharedRetries               int
	// videoPaused is what this user was last told of the video it receives in its room:
	// paused because its downlink is weak (video_paused) or not. A new room starts false.
	videoPaused bool
}

// enqueue queues one frame for the writer. A client whose queue is full is
// too slow to keep up and is disconnected, so it never grows the server's
// memory. Safe for concurrent use; never blocks.
func (s *Session) enqueue(frame []byte) {
	select {
	case <-s.done:
		return
	default:
	}
	select {
	case s.send <- frame:
	default:
		s.log.Warn("disconnecting slow client", "queued", len(s.send))
		s.kill(websocket.ClosePolicyViolation, "too slow to receive messages")
		// The writer may be blocked on a full socket: close it now.
		s.conn.Close()
	}
}

// typingMarker stands in the send queue for the partner's latest typing state.
var typingMarker = []byte(`{"type":"partner_typing"}`)

// queueTyping records the partner's typing state and queues a typingMarker unless one is
// already waiting, so a partner who floods typing can never fill s's queue. Safe for
// concurrent use.
func (s *Session) queueTyping(active bool) {
	s.typingActive.Store(active)
	if s.typingQueued.CompareAndSwap(false, true) {
		s.enqueue(typingMarker)
	}
}

// resolve turns a typingMarker into the partner_typing frame of the latest state; other
// frames are returned as they are. Called by the writer only.
func (s *Session) resolve(frame []byte) []byte {
	if len(frame) != len(typingMarker) || &frame[0] != &typingMarker[0] {
		return frame
	}
	s.typingQueued.Store(false)
	return encode("partner_typing", typingOutData{Active: s.typingActive.Load()})
}

// sendError queues an `error` message.
func (s *Session) sendError(e *wireError) {
	if o := s.hub.opts.Observer; o != nil {
		o.ErrorSent(e.Code)
	}
	s.enqueue(encode("error", e.data()))
}

// kill ends the session: the writer sends a close frame with code and text
// (if it still can) and closes the connection, which ends the reader.
// Safe for concurrent use; only the first call counts.
func (s *Session) kill(code int, text string) {
	s.closeOnce.Do(func() {
		s.closeCode, s.closeText = code, text
		close(s.done)
	})
}

// writeLoop sends queued frames and pings until the session is killed.
func (s *Session) writeLoop(pingInterval, writeTimeout time.Duration) {
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	defer s.conn.Close()
	for {
		select {
		case frame := <-s.send:
			s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := s.conn.WriteMessage(websocket.TextMessage, s.resolve(frame)); err != nil {
				s.kill(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-ping.C:
			if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				s.kill(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-s.done:
			s.flush(writeTimeout)
			return
		}
	}
}

// flush writes what is still queued (a final partner_left or error, say) and
// a close frame, each bounded by a short deadline.
func (s *Session) flush(writeTimeout time.Duration) {
	if s.closeCode == websocket.CloseAbnormalClosure {
		return
	}
	deadline := time.Now().Add(min(writeTimeout, time.Second))
	s.conn.SetWriteDeadline(deadline)
	for len(s.send) > 0 { // only this goroutine takes from s.send
		if s.conn.WriteMessage(websocket.TextMessage, s.resolve(<-s.send)) != nil {
			return
		}
	}
	msg := websocket.FormatCloseMessage(s.closeCode, s.closeText)
	s.conn.WriteControl(websocket.CloseMessage, msg, deadline)
}

// readLoop reads frames until the connection fails or the session is
// killed, handing each text frame to the handler table.
func (s *Session) readLoop(readTimeout time.Duration) {
	s.conn.SetReadLimit(MaxFrameBytes)
	s.conn.SetReadDeadline(time.Now().Add(readTimeout))
	s.conn.SetPongHandler(func(string) error {
		return s.conn.SetReadDeadline(time.Now().Add(readTimeout))
	})
	for {
		kind, frame, err := s.conn.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				s.log.Info("closing connection: frame over the limit", "limit", MaxFrameBytes)
			}
			return
		}
		s.conn.SetReadDeadline(time.Now().Add(readTimeout))
		if !s.msgLimit.AllowN(s.hub.opts.Now(), 1) {
			if s.flooded++; s.flooded == 1 {
				s.sendError(errFlood)
			} else if s.flooded > s.hub.opts.MessagesPerSecond {
				s.log.Info("disconnecting flooding client", "dropped", s.flooded)
				s.kill(websocket.ClosePolicyViolation, "too many messages")
				return
			}
			continue
		}
		s.flooded = 0
		if kind != websocket.TextMessage {
			s.sendError(errBadMessage("binary frames are not accepted; send JSON text frames"))
			continue
		}
		if werr := s.hub.handle(s, frame); werr != nil {
			s.sendError(werr)
		}
	}
}
