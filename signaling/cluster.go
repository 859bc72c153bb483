package signaling

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/tandemchat/tandem/cluster"
	"github.com/tandemchat/tandem/moderation"
)

// This file is the hub's cluster mode: the waiting queue shared with the
// other instances (package cluster's Queue, driven from sharedqueue.go), and
// the messages about a pair whose partners sit on different instances
// (package cluster's Bus). Nothing here waits for Redis with the hub's
// mutex held: calls to the queue and the bus go through the outbox, one
// goroutine that makes them in the order the hub asked, and the queue's
// answers are applied under the mutex when they come. When a call fails
// (Redis unreachable) the hub matches locally until the server tells it
// Redis is back (SetShared).

// SharedQueue is the waiting queue all instances share (cluster.Queue). Its
// methods must be safe for concurrent use.
type SharedQueue interface {
	Add(ctx context.Context, t cluster.Ticket) (cluster.Match, bool, error)
	Open(ctx context.Context, id string) (cluster.Match, bool, error)
	Remove(ctx context.Context, id string) (bool, error)
	Block(ctx context.Context, a, b string) error
	Forget(ctx context.Context, id string) error
	// KeepApart makes sure clients of subjects a and b (Ticket.Subject) are
	// never paired, in any visit, for ttl.
	KeepApart(ctx context.Context, a, b string, ttl time.Duration) error
}

// Messenger carries a message to the instance holding a user (cluster.Bus).
// Send must be safe for concurrent use.
type Messenger interface {
	Send(ctx context.Context, instance string, m cluster.Message) error
}

// ClusterOptions put a hub in cluster mode.
type ClusterOptions struct {
	// Instance is this instance's id in the cluster.
	Instance string
	// BridgeAddr is where this instance's media bridge listens, told to the
	// instances of remote partners (RemoteMedia.PairRemote).
	BridgeAddr string
	Queue      SharedQueue
	Bus        Messenger
	// ApartFor is how long the shared queue keeps apart two clients one of
	// whom reported the other (moderation's retention); 0 is the queue's
	// default.
	ApartFor time.Duration
}

// RemoteMedia is what the hub's Media offers in cluster mode: the media of a
// pair across instances, over the media bridge. Like Media's, its methods are
// called with the hub's mutex held and must not block on I/O. Without it
// such pairs get no media.
type RemoteMedia interface {
	// PairRemote makes local receive the media of the user remoteID held by
	// instance (whose bridge listens on bridgeAddr), and send its own there,
	// starting with a keyframe; a partner local had is parted in the same step.
	PairRemote(local MediaPeer, remoteID, instance, bridgeAddr string)
	// UnpairRemote stops the media between local and its remote partner.
	UnpairRemote(local MediaPeer)
}

// sharedTimeout bounds one call to the shared queue made outside the outbox.
const sharedTimeout = time.Second

// outboxSize is how many messages to other instances may wait to be sent;
// past that they are dropped (and logged), never blocking the hub.
const outboxSize = 4096

// shared is the hub's cluster state. Fields are guarded by Hub.mu except
// the outbox, which its own goroutine drains.
type shared struct {
	opts ClusterOptions
	down bool  // the shared queue failed: match locally until SetShared(true)
	err  error // why it is down
	shut bool  // the outbox is closed: nothing more is sent
	out  chan func(context.Context)
	done chan struct{} // closed when the outbox goroutine returns
	once sync.Once
}

func newShared(opts ClusterOptions) *shared {
	sh := &shared{opts: opts, out: make(chan func(context.Context), outboxSize), done: make(chan struct{})}
	go sh.runOutbox()
	return sh
}

// runOutbox runs the queued sends in order, each with its own deadline,
// until the outbox is closed.
func (sh *shared) runOutbox() {
	defer close(sh.done)
	for f := range sh.out {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		f(ctx)
		cancel()
	}
}

// closeOutbox sends what is queued (for at most a few seconds) and ends the
// outbox goroutine. Called with Hub.mu held by nobody.
func (h *Hub) closeOutbox() {
	sh := h.shared
	h.mu.Lock()
	sh.shut = true
	h.mu.Unlock()
	sh.once.Do(func() { close(sh.out) })
	select {
	case <-sh.done:
	case <-time.After(5 * time.Second):
	}
}

// remotePartner is a room's user held by another instance.
type remotePartner struct {
	id, instance string
	bridge       string // its instance's media bridge address
	ip, identity string // for reports
	interests    []string
}

// remoteData is the data of a cluster.Message between hubs; each type uses
// some of its fields.
type remoteData struct {
	Room      string   `json:"room"`
	Instance  string   `json:"instance,omitempty"` // the sender's instance
	Bridge    string   `json:"bridge,omitempty"`   // the sender's (or the ticket's instance's) media bridge
	Common    []string `json:"common,omitempty"`
	IP        string   `json:"ip,omitempty"`
	Identity  string   `json:"identity,omitempty"`
	Interests []string `json:"interests,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	Text      string   `json:"text,omitempty"`
	SentAt    string   `json:"sentAt,omitempty"`
	Active    bool     `json:"active,omitempty"`
	QueuedAt  int64    `json:"queuedAt,omitempty"` // in a ticket's info: when the user joined the queue (Unix ms)
}

// The types of the messages between hubs.
const (
	remoteFound  = "partner_found" // you are paired with From (sent by the instance that made the pair)
	remoteLeft   = "partner_left"  // From left the room (Reason)
	remoteChat   = "chat_message"
	remoteTyping = "typing"
	remoteVideo  = "video" // From's video is paused (Active) or resumed: its downlink is weak
	// RemoteInstanceDied tells every instance that the instance in Data's
	// "instance" died: its users' partners are told "disconnect".
	RemoteInstanceDied = "instance_died"
	// RemoteEndRoom and RemoteDisconnect carry an operator's end of the room
	// in Data's "room", or disconnection of the user To, to other instances:
	// the one holding it acts, the others find nothing.
	RemoteEndRoom    = "end_room"
	RemoteDisconnect = "disconnect"
	// RemoteDrain carries an operator's drain of the instance To (Hub.Drain)
	// to the other instances: that instance drains, the others ignore it.
	RemoteDrain = "drain"
	// remoteUnclaimed gives back the user To, whom the shared queue handed
	// to a user of the sender's instance who had left by the time the
	// answer came: To's instance puts it in the queue again.
	remoteUnclaimed = "unclaimed"
)

// sharedActiveLocked reports whether matching goes through the shared queue.
func (h *Hub) sharedActiveLocked() bool { return h.shared != nil && !h.shared.down }

// sharedCtx is the context of one shared-queue call made outside the outbox.
func sharedCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), sharedTimeout)
}

// sendRemote queues m for instance without blocking; called with Hub.mu held
// (the order of the sends is kept).
func (h *Hub) sendRemote(instance string, m cluster.Message) {
	bus := h.shared.opts.Bus
	h.later(m.Type, func(ctx context.Context) {
		if err := bus.Send(ctx, instance, m); err != nil {
			h.log.Warn("cluster message not sent", "type", m.Type, "to", m.To, "instance", instance, "err", err)
		}
	})
}

// later queues f on the outbox without blocking and reports whether it did
// (not when the outbox is full, which is logged, or closed); called with
// Hub.mu held.
func (h *Hub) later(what string, f func(context.Context)) bool {
	if h.shared.shut {
		return false
	}
	select {
	case h.shared.out <- f:
		return true
	default:
		h.log.Warn("cluster outbox full: dropped", "what", what)
		return false
	}
}

// tellRemote sends the remote partner of room a message of type typ from
// the local user from. Called with Hub.mu held.
func (h *Hub) tellRemote(room *Room, from string, typ string, d remoteData) {
	d.Room = room.ID
	d.Instance = h.shared.opts.Instance
	h.sendRemote(room.remote.instance, cluster.Message{Type: typ, To: room.remote.id, From: from, Data: mustJSON(d)})
}

// sharedFailedLocked switches to local matching after a shared queue call
// failed: users waiting in the shared queue are queued locally (and may be
// paired at once).
func (h *Hub) sharedFailedLocked(err error) {
	if h.shared.down {
		return
	}
	h.shared.down, h.shared.err = true, err
	h.log.Warn("cluster: the shared queue is unreachable; matching on this instance only", "err", err)
	for _, s := range h.sessions {
		if s.state == waiting && s.sharedQueued {
			s.sharedQueued = false
			h.queueLocalLocked(s, s.openTimer == nil)
		}
	}
}

// SetShared tells a hub in cluster mode whether the shared queue (Redis) is
// reachable. Back up, the users waiting locally join the shared queue again
// (and may be paired at once); down, those in the shared queue wait locally.
// Safe for concurrent use.
func (h *Hub) SetShared(up bool, err error) {
	if h.shared == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !up {
		h.sharedFailedLocked(err)
		return
	}
	if !h.shared.down || h.closed {
		return
	}
	h.shared.down, h.shared.err = false, nil
	h.log.Info("cluster: the shared queue is back; waiting users join it")
	for _, s := range h.sessions {
		if s.state != waiting || s.sharedQueued || s.sharedPending || !h.match.Remove(s.id) {
			continue
		}
		if !h.queueSharedLocked(s, s.openTimer == nil, false) {
			h.queueLocalLocked(s, s.openTimer == nil)
		}
	}
}

// pairSharedLocked pairs s with the partner the shared queue gave it. A
// partner on this instance is paired here as a local pair; one on another
// instance gets a room with a remote partner, and its instance is told. It
// reports false when the partner is a stale entry of this instance (no
// longer waiting).
func (h *Hub) pairSharedLocked(s *Session, m cluster.Match) bool {
	if m.PartnerInstance == h.shared.opts.Instance {
		p := h.sessions[m.Partner]
		if p == nil || p.state != waiting || !p.sharedQueued {
			h.log.Info("cluster: stale queue entry skipped", "user", m.Partner)
			return false
		}
		p.sharedQueued = false // the script took it out
		h.pairLocked(Match{A: s.id, B: p.id, Common: m.Common})
		return true
	}
	r := &remotePartner{id: m.Partner, instance: m.PartnerInstance}
	var info remoteData // who the partner is, for reports (its Ticket.Info)
	if err := json.Unmarshal([]byte(m.PartnerInfo), &info); err == nil {
		r.ip, r.identity, r.interests, r.bridge = info.IP, info.Identity, info.Interests, info.Bridge
	}
	now := time.Now()
	if o := h.opts.Observer; o != nil { // the instance that makes a pair counts it
		var waited time.Duration
		if info.QueuedAt > 0 {
			waited = max(0, now.Sub(time.UnixMilli(info.QueuedAt)))
		}
		o.Matched(h.waitedLocked(s.id, now), waited)
	}
	h.matches++
	if s.state == waiting {
		h.dequeueLocked(s)
	}
	room := h.openRemoteRoomLocked(s, newRoomID(), r, m.Common)
	h.tellRemote(room, s.id, remoteFound, remoteData{
		Common: m.Common, IP: s.ip, Identity: s.identity, Interests: s.interests, Bridge: h.shared.opts.BridgeAddr,
	})
	return true
}

// openRemoteRoomLocked makes a room of s and a partner on another instance
// and tells s.
func (h *Hub) openRemoteRoomLocked(s *Session, id string, r *remotePartner, common []string) *Room {
	room := &Room{ID: id, CreatedAt: time.Now().UTC(), a: s, remote: r}
	h.rooms[room.ID] = room
	s.state, s.room, s.videoPaused = paired, room, false
	if rm, ok := h.media.(RemoteMedia); ok {
		rm.PairRemote(s.peer, r.id, r.instance, r.bridge)
	}
	if mod := h.opts.Moderation; mod != nil {
		mod.CallMade(s.ip, s.identity)
	}
	if common == nil {
		common = []string{}
	}
	s.enqueue(encode("partner_found", partnerFoundData{RoomID: room.ID, CommonInterests: common}))
	h.log.Info("paired across instances", "room", room.ID, "user", s.id, "partner", r.id, "partnerInstance", r.instance)
	return room
}

// HandleRemote takes a message another instance sent about one of this
// hub's users (the server's bus loop calls it, in the order they were sent).
// Safe for concurrent use.
func (h *Hub) HandleRemote(m cluster.Message) {
	if h.shared == nil {
		return
	}
	var d remoteData
	if err := json.Unmarshal(m.Data, &d); len(m.Data) > 0 && err != nil {
		h.log.Warn("cluster message skipped: bad data", "type", m.Type, "err", err)
		return
	}
	switch m.Type { // operators' operations, which take the mutex themselves
	case RemoteEndRoom:
		h.EndRoom(d.Room)
		return
	case RemoteDisconnect:
		h.Disconnect(m.To)
		return
	case RemoteDrain:
		if m.To == h.shared.opts.Instance {
			h.Drain()
		}
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.Type == RemoteInstanceDied {
		h.instanceDiedLocked(d.Instance)
		return
	}
	s := h.sessions[m.To]
	switch m.Type {
	case remoteFound:
		h.remoteFoundLocked(s, m, d)
		return
	case remoteUnclaimed:
		h.requeueUnclaimedLocked(s)
		return
	}
	if s == nil || s.state != paired || s.room.ID != d.Room || s.room.remote == nil {
		return // the room ended here already
	}
	switch m.Type {
	case remoteLeft:
		h.closeRemoteRoomLocked(s.room, d.Reason, true)
	case remoteChat:
		at, _ := time.Parse(time.RFC3339Nano, d.SentAt)
		s.room.addChat(m.From, d.Text, at)
		s.enqueue(encode("chat_message", chatOutData{Text: d.Text, SentAt: d.SentAt}))
	case remoteTyping:
		s.queueTyping(d.Active)
	case remoteVideo:
		s.enqueue(encode(videoMessage(d.Active), videoPausedData{Weak: WeakPartner}))
	}
}

// remoteFoundLocked pairs s, who waited in the shared queue, with the user
// of another instance that took it; if s no longer waits, that instance is
// told its user's partner left.
func (h *Hub) remoteFoundLocked(s *Session, m cluster.Message, d remoteData) {
	if s == nil || s.state != waiting || h.draining {
		h.sendRemote(d.Instance, cluster.Message{Type: remoteLeft, To: m.From, From: m.To,
			Data: mustJSON(remoteData{Room: d.Room, Instance: h.shared.opts.Instance, Reason: ReasonDisconnect})})
		return
	}
	h.dequeueLocked(s)
	r := &remotePartner{id: m.From, instance: d.Instance, bridge: d.Bridge, ip: d.IP, identity: d.Identity, interests: d.Interests}
	h.openRemoteRoomLocked(s, d.Room, r, d.Common)
}

// closeRemoteRoomLocked ends a room with a remote partner on this side; the
// local user is told reason if tell (not when it left itself). Nothing goes
// to the other instance.
func (h *Hub) closeRemoteRoomLocked(room *Room, reason string, tell bool) {
	delete(h.rooms, room.ID)
	s := room.a
	if rm, ok := h.media.(RemoteMedia); ok {
		rm.UnpairRemote(s.peer)
	}
	s.state, s.room, s.parted = idle, nil, room.remote.id
	if tell {
		s.enqueue(encode("partner_left", partnerLeftData{Reason: reason}))
	}
	h.log.Info("room ended", "room", room.ID, "reason", reason, "partnerInstance", room.remote.instance)
}

// instanceDiedLocked ends every room whose remote partner was on the
// instance that died; the local users are told "disconnect".
func (h *Hub) instanceDiedLocked(instance string) {
	n := 0
	for _, room := range h.rooms {
		if room.remote != nil && room.remote.instance == instance {
			h.closeRemoteRoomLocked(room, ReasonDisconnect, true)
			n++
		}
	}
	h.log.Warn("cluster: instance died; its users' partners told", "instance", instance, "rooms", n)
}

// forgetSharedLocked drops s's blocks from the shared store when its visit ends.
// Called with Hub.mu held.
func (h *Hub) forgetSharedLocked(id string) {
	q := h.shared.opts.Queue
	h.later("forget", func(ctx context.Context) {
		if err := q.Forget(ctx, id); err != nil {
			h.log.Warn("cluster: blocks not forgotten", "user", id, "err", err)
		}
	})
}

// keepApartShared records in the shared queue that the two clients of a
// stored report are never paired again, in later visits too, whatever
// instance they arrive on (the Matchmaker asks Moderation.Apart instead).
// Called on the reporter's reader goroutine, without Hub.mu; a failure is
// logged (the two are kept apart all the same while the queue is down, by
// the Matchmaker).
func (h *Hub) keepApartShared(r moderation.Report) {
	if h.shared == nil {
		return
	}
	ctx, cancel := sharedCtx()
	defer cancel()
	if err := h.shared.opts.Queue.KeepApart(ctx, r.ReporterSubject, r.TargetKey, h.shared.opts.ApartFor); err != nil {
		h.log.Warn("cluster: reporter and reported not kept apart in the shared queue", "report", r.ID, "err", err)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // remoteData always encodes
	}
	return b
}
