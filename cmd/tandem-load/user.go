package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/tandemchat/tandem/sfu/synth"
)

// message is the protocol envelope.
type message struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
}

// user is one simulated visitor: a WebSocket session and a synthetic Pion client that sends
// video and audio, re-enters the queue when its partner leaves, and measures switches.
type user struct {
	id     uint32
	spread spread // how the users are placed over the instances
	conn   *websocket.Conn
	client *synth.Client
	res    *results

	writeMu sync.Mutex

	lastSource atomic.Uint32 // source of the newest video packet received
	// firstPartner is closed at the first partner_found.
	firstPartner chan struct{}
	pairedOnce   sync.Once
	inRoom       atomic.Bool

	mu        sync.Mutex
	nextAt    time.Time // when next_partner was sent; zero if no switch is being measured
	found     bool      // partner_found arrived since nextAt
	lastKeyAt time.Time // arrival of the newest keyframe
	oldSource uint32    // partner source before the switch
	queued    bool      // in the queue (or asked to be) since the last partner_found
}

// dial connects a user's WebSocket and creates its media client; sp is how the users are
// placed over the instances.
func dial(ctx context.Context, wsURL string, id uint32, sp spread, bitrate, fps int, res *results) (*user, error) {
	u := &user{id: id, spread: sp, res: res, firstPartner: make(chan struct{})}
	origin, err := originOf(wsURL)
	if err != nil {
		return nil, err
	}
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, _, err := dialer.DialContext(ctx, wsURL, http.Header{"Origin": {origin}})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", wsURL, err)
	}
	u.conn = conn
	u.client, err = synth.New(synth.Options{Source: id, Send: true, VideoBitrate: bitrate, FPS: fps, Lean: true,
		OnPacket: u.onPacket})
	if err != nil {
		conn.Close()
		return nil, err
	}
	u.client.OnLocalCandidate(func(c webrtc.ICECandidateInit) {
		u.send("ice_candidate", map[string]any{
			"candidate": c.Candidate, "sdpMid": c.SDPMid, "sdpMLineIndex": c.SDPMLineIndex})
	})
	return u, nil
}

// originOf turns ws://host/ws into http://host, the origin a browser on that page would send.
func originOf(wsURL string) (string, error) {
	parsed, err := url.Parse(wsURL)
	if err != nil {
		return "", fmt.Errorf("parse url %q: %w", wsURL, err)
	}
	scheme := "http"
	if parsed.Scheme == "wss" {
		scheme = "https"
	}
	return scheme + "://" + parsed.Host, nil
}

// start offers media and enters the queue.
func (u *user) start() error {
	offer, err := u.client.Offer(false)
	if err != nil {
		return err
	}
	u.send("webrtc_offer", map[string]string{"sdp": offer})
	u.mu.Lock()
	u.queued = true
	u.mu.Unlock()
	u.send("find_partner", nil)
	u.client.Start()
	return nil
}

// send writes one message; errors end the session through the reader.
func (u *user) send(typ string, data any) {
	msg := map[string]any{"type": typ}
	if data != nil {
		msg["data"] = data
	}
	u.writeMu.Lock()
	defer u.writeMu.Unlock()
	_ = u.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := u.conn.WriteJSON(msg); err != nil {
		u.res.errors.Add(1)
	}
}

// read handles server messages until the connection closes.
func (u *user) read() {
	for {
		var msg message
		if err := u.conn.ReadJSON(&msg); err != nil {
			return
		}
		u.handle(msg)
	}
}

func (u *user) handle(msg message) {
	switch msg.Type {
	case "webrtc_answer":
		var d struct{ SDP string }
		if json.Unmarshal(msg.Data, &d) != nil || u.client.SetAnswer(d.SDP) != nil {
			u.res.errors.Add(1)
		}
	case "ice_candidate":
		var c webrtc.ICECandidateInit
		if json.Unmarshal(msg.Data, &c) != nil || u.client.AddRemoteCandidate(c) != nil {
			u.res.errors.Add(1)
		}
	case "partner_found":
		u.pairedOnce.Do(func() { close(u.firstPartner) })
		u.inRoom.Store(true)
		u.res.pairs.Add(1)
		u.mu.Lock()
		u.queued = false
		if !u.nextAt.IsZero() {
			u.res.addSignaling(time.Since(u.nextAt))
			u.found = true
			// Media may beat the WebSocket: the new partner's keyframe can already be here.
			if u.lastKeyAt.After(u.nextAt) {
				u.res.addSwitch(u.lastKeyAt.Sub(u.nextAt))
				u.nextAt = time.Time{}
			}
		}
		u.mu.Unlock()
	case "partner_left":
		u.inRoom.Store(false)
		u.mu.Lock()
		requeue := !u.queued // our own next_partner may have crossed the partner's
		u.queued = true
		if u.nextAt.IsZero() {
			u.oldSource = u.lastSource.Load()
		}
		u.mu.Unlock()
		if requeue {
			u.send("find_partner", nil)
		}
	case "error":
		u.res.errors.Add(1)
		u.res.noteError(string(msg.Data))
	}
}

// next ends the current pair to measure a switch.
func (u *user) next() {
	if !u.inRoom.Load() {
		return
	}
	u.mu.Lock()
	u.nextAt = time.Now()
	u.found = false
	u.queued = true
	u.oldSource = u.lastSource.Load()
	u.mu.Unlock()
	u.inRoom.Store(false)
	u.send("next_partner", nil)
}

// onPacket runs on the media client's track goroutines for every received packet.
func (u *user) onPacket(p synth.Packet) {
	u.res.packets.Add(1)
	if p.Source != 0 && u.spread.instanceOf(p.Source) != u.spread.instanceOf(u.id) {
		u.res.bridged.Add(1)
	}
	if !p.SentAt.IsZero() {
		u.res.transit.add(p.At.Sub(p.SentAt))
	}
	if p.Kind != webrtc.RTPCodecTypeVideo || p.Source == 0 {
		return
	}
	u.lastSource.Store(p.Source)
	if !p.Keyframe {
		return
	}

	u.mu.Lock()
	defer u.mu.Unlock()
	u.lastKeyAt = p.At
	// The first keyframe after next_partner is the new partner's if it comes from another
	// source, or (re-paired with the same partner) once partner_found arrived.
	if !u.nextAt.IsZero() && (p.Source != u.oldSource || u.found) {
		u.res.addSwitch(p.At.Sub(u.nextAt))
		u.nextAt = time.Time{}
	}
}

// close ends the session and the media client.
func (u *user) close() {
	u.writeMu.Lock()
	_ = u.conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	u.writeMu.Unlock()
	_ = u.conn.Close()
	_ = u.client.Close()
}
