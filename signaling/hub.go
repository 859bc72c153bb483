// Package signaling owns tandem's WebSocket sessions: the protocol of
// docs/protocol.md, the matchmaking queue, and the rooms that pair two
// users. It drives the media side through its own small Media interface
// (media.go) and never touches a packet.
package signaling

import (
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/tandemchat/tandem/moderation"
)

// ICEServerFunc returns the ICE servers (with credentials) for one user;
// host is the host name the client used to reach /ws.
type ICEServerFunc func(userID, host string) []ICEServer

// Options configure a Hub.
type Options struct {
	Config
	// AllowedOrigins are browser origins allowed besides the page's own host; "*" allows any.
	AllowedOrigins []string
	// ICEServers fills welcome's iceServers; nil sends an empty list.
	ICEServers ICEServerFunc
	// SessionEnded, if set, is called once with a session's user id after the session ended
	// and closed its media (e.g. to revoke its TURN credentials). It must not block or call
	// the hub.
	SessionEnded func(userID string)
	// Observer is told of matchmaking events (metrics); nil for none.
	Observer Observer
	// MediaPerIP is how many sessions of one client IP (IPv6: /64) may hold a PeerConnection
	// at once; 0 means no cap. A session holds one from its first accepted offer until it
	// ends.
	MediaPerIP int
	// Moderation keeps banned clients out, stores reports and places users in the
	// low-trust pool; nil turns bans, reports and the pool off (blocks still work).
	Moderation Moderation
	// Now is the clock of the message and find/next limits; nil means time.Now.
	Now func() time.Time
	// Cluster, when set, puts the hub in cluster mode (cluster.go): users are
	// matched through the queue the instances share, and partners on other
	// instances are reached through the bus.
	Cluster *ClusterOptions
}

// Moderation is what the hub asks of the moderation rules (see package
// moderation). Its methods must be safe for concurrent use; Check, LowTrust
// and CallMade are called with the hub's mutex held and must not block.
// File may do I/O; the hub calls it without its mutex.
type Moderation interface {
	// Check returns the ban that keeps out a client of this IP and identity, if any.
	Check(ip, identity string) (moderation.Ban, bool)
	// File stores a report; a ban it brought into force is returned too.
	File(moderation.ReportInput) (moderation.Report, *moderation.Ban, error)
	// LowTrust reports whether the client belongs in the low-trust pool.
	LowTrust(ip, identity string) bool
	// CallMade counts a call the client made.
	CallMade(ip, identity string)
	// Apart reports whether two clients must never be paired: one reported
	// the other, in this visit or an earlier one.
	Apart(ipA, identityA, ipB, identityB string) bool
	// Subject is the key the rules know a client by (a report's TargetKey
	// and ReporterSubject), which the shared queue keeps apart in cluster
	// mode.
	Subject(ip, identity string) string
}

// Observer is told what the hub does, for metrics. Its methods may be
// called from any goroutine, some with the hub's mutex held: they must be
// safe for concurrent use, must not block and must not call the hub.
type Observer interface {
	// Matched is called when two users are paired, with how long each waited.
	Matched(waitedA, waitedB time.Duration)
	// ErrorSent is called for every `error` message, with its code.
	ErrorSent(code string)
}

// Hub owns every session, the Matchmaker and the rooms. It serves /ws.
// Its methods are safe for concurrent use.
type Hub struct {
	opts       Options
	log        *slog.Logger
	media      Media
	upgrader   websocket.Upgrader
	handlers   map[string]handler
	mediaSlots *mediaQuota // PeerConnections per client IP

	mu       sync.Mutex
	sessions map[string]*Session
	rooms    map[string]*Room
	match    *Matchmaker
	shared   *shared              // cluster mode; nil for a single instance
	queuedAt map[string]time.Time // when each waiting user joined the queue
	matches  uint64
	banned   uint64 // connections refused at accept because of a ban
	draining bool
	closed   bool

	running sync.WaitGroup // one per session, until it has released everything
}

// NewHub returns a hub that pairs users and drives their media through media.
func NewHub(opts Options, media Media, log *slog.Logger) *Hub {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &Hub{
		opts:     opts,
		log:      log,
		media:    media,
		sessions: make(map[string]*Session),
		rooms:    make(map[string]*Room),
		match:    NewMatchmaker(),
		queuedAt: make(map[string]time.Time),
	}
	h.mediaSlots = newMediaQuota(opts.MediaPerIP)
	if opts.Cluster != nil {
		h.shared = newShared(*opts.Cluster)
	}
	if opts.Moderation != nil {
		h.match.Apart = h.apartLocked
	}
	h.handlers = h.handlerTable()
	// Small read buffers and pooled write buffers keep an idle session
	// small (docs/performance.md): frames larger than a buffer still work.
	h.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  4096,
		WriteBufferPool:  &sync.Pool{},
		CheckOrigin:      h.checkOrigin,
	}
	return h
}

// checkOrigin admits non-browser clients (no Origin), the page's own host,
// and the configured origins.
func (h *Hub) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, o := range h.opts.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

// ServeHTTP upgrades a request on /ws and starts its session. It returns
// as soon as the session runs (so the HTTP server's per-request memory is
// freed); the session's own reader and writer goroutines, owned by the hub,
// run until it ends. A function attached with WithSessionEnd is called
// once the session has released everything, or at once if there is none.
// A draining hub takes no new users: the request gets 503 before any
// upgrade, so that a load balancer passes it to another instance, and a
// browser's client retries.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	end := sessionEndFrom(r.Context())
	h.mu.Lock()
	closed, draining := h.closed, h.draining
	if !closed && !draining {
		h.running.Add(1)
	}
	h.mu.Unlock()
	if closed || draining {
		end()
		w.Header().Set("Retry-After", "5")
		http.Error(w, "this server is draining and takes no new users; try again", http.StatusServiceUnavailable)
		return
	}
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.running.Done()
		end()
		h.log.Info("websocket upgrade refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return
	}
	identity := IdentityFrom(r.Context())
	if h.refuseBanned(conn, clientIP(r), identity, end) {
		return
	}
	s := h.newSession(conn, clientIP(r))
	if identity != "" {
		s.identity = identity
		s.log = s.log.With("identity", identity)
	}
	go func() {
		defer close(s.writerDone)
		s.writeLoop(h.opts.PingInterval, h.opts.WriteTimeout)
	}()
	go h.run(s, h.register(s, hostOnly(r.Host)), end)
}

// run is the session's reader goroutine: it reads until the connection
// ends, then releases the session and waits for its writer. registered is
// false when the hub closed before s could join it.
func (h *Hub) run(s *Session, registered bool, end func()) {
	defer h.running.Done()
	defer end()
	if registered {
		s.readLoop(h.opts.ReadTimeout)
	}
	s.kill(websocket.CloseNormalClosure, "")
	h.unregister(s)
	<-s.writerDone
}

func (h *Hub) newSession(conn *websocket.Conn, ip string) *Session {
	id := uuid.NewString()
	s := &Session{
		id:         id,
		hub:        h,
		conn:       conn,
		ip:         ip,
		log:        h.log.With("user", id),
		send:       make(chan []byte, h.opts.SendQueue),
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
		msgLimit:   rate.NewLimiter(rate.Limit(h.opts.MessagesPerSecond), 2*h.opts.MessagesPerSecond),
		chatLimit:  newChatLimiter(h.opts),
		offerLimit: newOfferLimiter(h.opts),
		nextLimit:  newNextLimiter(h.opts),
	}
	s.peer = h.media.NewPeer(id, peerEvents(h, s))
	return s
}

// newChatLimiter allows ChatMessages chat messages per ChatWindow.
func newChatLimiter(o Options) *rate.Limiter {
	return rate.NewLimiter(rate.Every(o.ChatWindow/time.Duration(o.ChatMessages)), o.ChatMessages)
}

// newOfferLimiter allows OffersPerMinute offers a minute, in bursts of a quarter of that.
func newOfferLimiter(o Options) *rate.Limiter {
	perMinute := max(1, o.OffersPerMinute)
	return rate.NewLimiter(rate.Every(time.Minute/time.Duration(perMinute)), max(1, perMinute/4))
}

// peerEvents routes what s's media peer reports back to s's client.
func peerEvents(h *Hub, s *Session) MediaEvents {
	return MediaEvents{
		OnCandidate:   s.sendCandidate,
		OnOffer:       func(sdp string) { s.enqueue(encode("webrtc_offer", sdpData{SDP: sdp})) },
		OnFailed:      func(err error) { h.mediaFailed(s, err) },
		OnVideoPaused: func(paused bool) { h.videoPaused(s, paused) },
	}
}

// register adds s and sends welcome; false means the hub is closing.
func (h *Hub) register(s *Session, host string) bool {
	var ice []ICEServer
	if h.opts.ICEServers != nil {
		ice = h.opts.ICEServers(s.id, host)
	}
	if ice == nil {
		ice = []ICEServer{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.sessions[s.id] = s
	s.enqueue(encode("welcome", welcomeData{UserID: s.id, ICEServers: ice, Protocol: ProtocolVersion, Terms: h.opts.Terms}))
	s.log.Info("session started", "remote", s.ip)
	return true
}

// unregister removes s from the queue and its room (its partner is told
// "disconnect") and releases its media.
func (h *Hub) unregister(s *Session) {
	h.mu.Lock()
	if _, ok := h.sessions[s.id]; ok {
		delete(h.sessions, s.id)
		h.leaveLocked(s, ReasonDisconnect)
		h.match.Forget(s.id)
		if h.shared != nil {
			h.forgetSharedLocked(s.id)
		}
		s.log.Info("session ended")
	}
	h.mu.Unlock()
	if err := s.peer.Close(); err != nil {
		s.log.Warn("close media peer", "err", err)
	}
	if s.mediaSlot {
		h.mediaSlots.release(s.ip)
		s.mediaSlot = false
	}
	if h.opts.SessionEnded != nil {
		h.opts.SessionEnded(s.id)
	}
}

// mediaFailed ends s's pair after its media failed and tells s to reconnect. Until its
// PeerConnection connects again, find_partner and next_partner are refused with the same
// error (see onFindPartner), so no stranger is paired with a dead peer.
func (h *Hub) mediaFailed(s *Session, err error) {
	s.log.Warn("media failed", "err", err)
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.sessions[s.id]; !ok {
		return
	}
	h.leaveLocked(s, ReasonMediaFailed)
	s.sendError(errMediaFailed)
}

// videoPaused tells s and its partner that the video s receives was paused, because s's
// downlink is too weak for it, or resumed: video_paused or video_resumed, with "weak" naming
// whose link it is (a partner on another instance hears it through that instance). The media
// side reports from its own goroutines, so a report may arrive late: one that no longer
// matches the peer's state, or repeats what s was told, is dropped.
func (h *Hub) videoPaused(s *Session, paused bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.state != paired || s.peer.VideoPaused() != paused || s.videoPaused == paused {
		return
	}
	s.videoPaused = paused
	typ := videoMessage(paused)
	s.enqueue(encode(typ, videoPausedData{Weak: WeakSelf}))
	if s.room.remote != nil {
		h.tellRemote(s.room, s.id, remoteVideo, remoteData{Active: paused})
	} else {
		s.room.other(s).enqueue(encode(typ, videoPausedData{Weak: WeakPartner}))
	}
	s.log.Info(strings.Replace(typ, "_", " ", 1), "room", s.room.ID)
}

// videoMessage is the message type telling of a video pause (true) or resume.
func videoMessage(paused bool) string {
	if paused {
		return "video_paused"
	}
	return "video_resumed"
}

// clientIP is the remote address of r without its port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// hostOnly strips the port from a Host header.
func hostOnly(hostport string) string {
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		return host
	}
	return strings.Trim(hostport, "[]")
}
