package signaling

import (
	"encoding/json"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/tandemchat/tandem/moderation"
)

// This file holds the hub's side of moderation: bans at accept and while
// connected, report_partner, block_partner, the terms gate, the find/next
// limit and the chat link policy.

// refuseBanned turns a banned client away: its WebSocket gets an `error`
// banned and a close with status 1008, and no session starts. It reports
// whether the client was banned; if so it has taken over conn and end.
func (h *Hub) refuseBanned(conn *websocket.Conn, ip, identity string, end func()) bool {
	if h.opts.Moderation == nil {
		return false
	}
	ban, banned := h.opts.Moderation.Check(ip, identity)
	if !banned {
		return false
	}
	h.mu.Lock()
	h.banned++
	h.mu.Unlock()
	if o := h.opts.Observer; o != nil {
		o.ErrorSent(CodeBanned)
	}
	h.log.Info("websocket refused: banned", "remote", ip, "identity", identity, "ban", ban.Target, "until", ban.Until)
	go func() {
		defer h.running.Done()
		defer end()
		sendAndClose(conn, errBanned(ban.Until, ban.Reason), h.opts.WriteTimeout)
	}()
	return true
}

// sendAndClose writes one `error` and a 1008 close frame on a connection
// no session owns, then waits (briefly) for the client's close before
// closing, so the client reads both.
func sendAndClose(conn *websocket.Conn, e *wireError, writeTimeout time.Duration) {
	defer conn.Close()
	deadline := time.Now().Add(min(writeTimeout, 5*time.Second))
	conn.SetWriteDeadline(deadline)
	if conn.WriteMessage(websocket.TextMessage, encode("error", e.data())) != nil {
		return
	}
	if conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, e.Code), deadline) != nil {
		return
	}
	conn.SetReadLimit(MaxFrameBytes)
	conn.SetReadDeadline(time.Now().Add(time.Second))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
	}
}

// EnforceBans ends every session that the moderation rules now ban: each
// gets `error` banned and a close with status 1008 (its partner gets
// partner_left "disconnect"). The server calls it whenever a ban comes into
// force. Safe for concurrent use; must not be called with the hub's mutex.
func (h *Hub) EnforceBans() {
	if h.opts.Moderation == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.sessions {
		ban, banned := h.opts.Moderation.Check(s.ip, s.identity)
		if !banned {
			continue
		}
		s.log.Info("session ended: banned", "ban", ban.Target, "until", ban.Until)
		h.leaveLocked(s, ReasonDisconnect)
		s.sendError(errBanned(ban.Until, ban.Reason))
		s.kill(websocket.ClosePolicyViolation, CodeBanned)
	}
}

// apartLocked reports whether users a and b must never be paired because one
// reported the other (in any visit). The Matchmaker calls it with Hub.mu
// held.
func (h *Hub) apartLocked(a, b string) bool {
	sa, sb := h.sessions[a], h.sessions[b]
	return sa != nil && sb != nil && h.opts.Moderation.Apart(sa.ip, sa.identity, sb.ip, sb.identity)
}

// newNextLimiter allows NextPerMinute finds and nexts a minute, in bursts of
// that many; nil when unlimited.
func newNextLimiter(o Options) *rate.Limiter {
	if o.NextPerMinute <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Every(time.Minute/time.Duration(o.NextPerMinute)), o.NextPerMinute)
}

// mayMatch checks the terms gate and the find/next limit for one
// find_partner or next_partner. Called on s's reader goroutine.
func (h *Hub) mayMatch(s *Session) *wireError {
	if h.opts.Terms != "" && !s.accepted {
		return errTermsRequired
	}
	return h.churn(s)
}

// churn takes one request from s's find/next limit (report_partner and
// block_partner queue the user again too, so they count), or refuses it
// with slow_down. Called on s's reader goroutine.
func (h *Hub) churn(s *Session) *wireError {
	if s.nextLimit == nil {
		return nil
	}
	now := h.opts.Now()
	r := s.nextLimit.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return errSlowDown(d)
	}
	return nil
}

func (h *Hub) onAcceptTerms(s *Session, _ json.RawMessage) *wireError {
	s.accepted = true
	return nil
}

func (h *Hub) onBlockPartner(s *Session, _ json.RawMessage) *wireError {
	if werr := h.churn(s); werr != nil {
		return werr
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.state != paired {
		return errNotInRoom
	}
	other := s.room.partnerID(s)
	h.match.Block(s.id, other)
	h.blockSharedLocked(s.id, other)
	s.log.Info("partner blocked", "partner", other, "room", s.room.ID)
	return h.nextLocked(s, ReasonNext)
}

func (h *Hub) onReportPartner(s *Session, data json.RawMessage) *wireError {
	var d reportInData
	if werr := decodeData("report_partner", data, &d); werr != nil {
		return werr
	}
	if d.Reason == nil || !moderation.ValidReason(*d.Reason) {
		return errBadMessage("report_partner: data needs a \"reason\": one of %v", moderation.Reasons)
	}
	if n := utf8.RuneCountInString(d.Comment); n > moderation.MaxCommentRunes {
		return errBadMessage("report_partner: comment must be at most %d characters, got %d", moderation.MaxCommentRunes, n)
	}
	if h.opts.Moderation == nil {
		return errReportsOff
	}
	if werr := h.churn(s); werr != nil {
		return werr
	}
	h.mu.Lock()
	if s.state != paired {
		h.mu.Unlock()
		return errNotInRoom
	}
	in := reportInput(s, *d.Reason, d.Comment, time.Now())
	h.match.Block(s.id, in.Reported.UserID)
	h.blockSharedLocked(s.id, in.Reported.UserID)
	werr := h.nextLocked(s, ReasonNext)
	h.mu.Unlock()

	report, _, err := h.opts.Moderation.File(in)
	if err != nil {
		s.log.Error("report not stored", "err", err, "reported", in.Reported.UserID)
		return errReportFailed
	}
	h.keepApartShared(report)
	s.log.Info("partner reported", "report", report.ID, "reported", in.Reported.UserID, "reason", report.Reason)
	s.enqueue(encode("report_received", reportReceivedData{ReportID: report.ID}))
	return werr
}

// reportInput gathers what a report of s's partner records: both users,
// the room and its last chat lines. Called with Hub.mu held.
func reportInput(s *Session, reason, comment string, now time.Time) moderation.ReportInput {
	room := s.room
	var reported moderation.Client
	if r := room.remote; r != nil {
		reported = moderation.Client{UserID: r.id, IP: r.ip, Identity: r.identity, Interests: append([]string(nil), r.interests...)}
	} else {
		reported = clientOf(room.other(s))
	}
	return moderation.ReportInput{
		Reason:       reason,
		Comment:      comment,
		Reporter:     clientOf(s),
		Reported:     reported,
		RoomID:       room.ID,
		RoomDuration: now.Sub(room.CreatedAt),
		Chat:         append([]moderation.ChatLine(nil), room.chat...),
	}
}

func clientOf(s *Session) moderation.Client {
	return moderation.Client{UserID: s.id, IP: s.ip, Identity: s.identity, Interests: append([]string(nil), s.interests...)}
}

// linkPattern finds what a chat message could use as a link: a URL with a
// scheme, a www. name, or a dotted name ending in a common top-level domain.
var linkPattern = regexp.MustCompile(`(?i)\b(?:[a-z][a-z0-9+.-]*://\S+|www\.\S+|[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|me|ru|info|biz|xyz|app|link|ly|gg|tv|co|to|cc|top|site|online|club)\b\S*)`)

// applyLinkPolicy returns text as signaling.chat_links wants it: unchanged
// (allow), with each link replaced (strip), or refused (refuse).
func (h *Hub) applyLinkPolicy(text string) (string, *wireError) {
	if h.opts.ChatLinks == "" || h.opts.ChatLinks == "allow" || !linkPattern.MatchString(text) {
		return text, nil
	}
	if h.opts.ChatLinks == "refuse" {
		return "", errLinkRefused
	}
	return linkPattern.ReplaceAllString(text, "[link removed]"), nil
}
