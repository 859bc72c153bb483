package sfu

import (
	"time"

	"github.com/pion/rtp"
)

// SwitchTimeline is what happened, and when, in one video partner switch as the server saw
// it: each field is an offset from the Pair that started the switch (the hub calls Pair while
// it handles next_partner or find_partner, microseconds after the message was read). The
// receiving browser's own share (jitter buffer, decoding, rendering) comes after
// KeyframeForwarded and is measured in the page (make nextbench, docs/performance.md).
type SwitchTimeline struct {
	// Receiver is the peer that switched partners, Sender its new partner.
	Receiver, Sender string
	// PLISent is when the last PLI written to the new partner before its keyframe arrived
	// went out; -1 if none went out after the Pair (the keyframe was already on its way).
	PLISent time.Duration
	// KeyframeReceived is when the first packet of the new partner's first keyframe after
	// the Pair reached the server; every packet of it before was dropped.
	KeyframeReceived time.Duration
	// FirstForwarded is when that packet was written to the receiver: the first packet of
	// the new partner the receiver gets.
	FirstForwarded time.Duration
	// KeyframeForwarded is when the keyframe's last packet (the marker bit) was written:
	// from then on the receiver can decode the new partner's first picture.
	KeyframeForwarded time.Duration
	// FromCache is set when the keyframe was not a new one but the new partner's latest,
	// kept while it waited and replayed with the frames after it (gopcache.go): then
	// KeyframeReceived is when the new partner's first packet after the Pair arrived, which
	// started the replay.
	FromCache bool
}

// switchClock follows one video downTrack's switch from reset until the new source's first
// keyframe is fully forwarded. It is guarded by the downTrack's mutex.
type switchClock struct {
	resetAt int64 // unix nanos of the Pair (reset); 0 when no switch is being followed
	// keyTS is the RTP timestamp (the source's) of the keyframe being forwarded; valid once
	// keyAt is set.
	keyTS uint32
	tl    SwitchTimeline
	keyAt int64 // unix nanos the keyframe's first packet arrived; 0 before
	// pli is when the new source's last PLI went out, read when its keyframe arrives.
	pli int64
}

// switchStage says what a forwarded packet meant to the switch being followed.
type switchStage uint8

const (
	stageNone     switchStage = 0
	stageFirst    switchStage = 1 // the new source's first packet (its keyframe's first)
	stageComplete switchStage = 2 // the keyframe's last packet
)

// start begins following a switch that reset at now.
func (c *switchClock) start(now int64) {
	*c = switchClock{resetAt: now}
}

// packet classifies a packet of up that is about to be forwarded; first is set for the packet
// that starts the new source (a keyframe). arrived is when it reached the server.
func (c *switchClock) packet(up *upTrack, pkt *rtp.Packet, first bool, arrived int64) switchStage {
	if c.resetAt == 0 {
		return stageNone
	}
	stage := stageNone
	if first && c.keyAt == 0 {
		c.keyAt, c.keyTS = arrived, pkt.Timestamp
		c.pli = up.peer.pliSentAt.Load()
		stage = stageFirst
	}
	if c.keyAt != 0 && pkt.Marker && pkt.Timestamp == c.keyTS {
		stage |= stageComplete
	}
	return stage
}

// written records that the packet classified as stage was written at now, and returns the
// finished timeline when the keyframe is complete (ok), after which the clock stops.
func (c *switchClock) written(stage switchStage, receiver, sender *Peer, now int64) (SwitchTimeline, bool) {
	if c.resetAt == 0 || c.keyAt == 0 {
		return SwitchTimeline{}, false // reset again meanwhile
	}
	since := func(t int64) time.Duration { return time.Duration(t - c.resetAt) }
	if stage&stageFirst != 0 {
		c.tl.Receiver, c.tl.Sender = receiver.id, sender.id
		c.tl.PLISent = -1
		if c.pli >= c.resetAt {
			c.tl.PLISent = since(c.pli)
		}
		c.tl.KeyframeReceived = since(c.keyAt)
		c.tl.FirstForwarded = since(now)
	}
	if stage&stageComplete == 0 {
		return SwitchTimeline{}, false
	}
	c.tl.KeyframeForwarded = since(now)
	tl := c.tl
	c.resetAt = 0
	return tl, true
}

// replayed records a switch whose keyframe was replayed from the cache: the replay began at
// began (when the new source's first live packet arrived), its first packet was written at
// first and the keyframe's last at keyDone. It returns the finished timeline, if a switch was
// being followed.
func (c *switchClock) replayed(receiver, sender *Peer, began, first, keyDone int64) (SwitchTimeline, bool) {
	if c.resetAt == 0 {
		return SwitchTimeline{}, false
	}
	since := func(t int64) time.Duration { return time.Duration(t - c.resetAt) }
	tl := SwitchTimeline{Receiver: receiver.id, Sender: sender.id, PLISent: -1, FromCache: true,
		KeyframeReceived: since(began), FirstForwarded: since(first), KeyframeForwarded: since(keyDone)}
	if pli := sender.pliSentAt.Load(); pli >= c.resetAt {
		tl.PLISent = since(pli)
	}
	c.resetAt = 0
	return tl, true
}

// switchWritten finishes the stage of a switch that a forwarded packet completed: it records
// the time, and once the keyframe is complete logs the timeline at debug level and hands it
// to Config.OnSwitchTimeline. Called after the write, without d.mu, once or twice per switch.
func (d *downTrack) switchWritten(stage switchStage, up *upTrack) {
	now := time.Now().UnixNano()
	d.mu.Lock()
	tl, done := d.clock.written(stage, d.peer, up.peer, now)
	d.mu.Unlock()
	if done {
		d.reportSwitch(tl)
	}
}

// reportSwitch logs a finished switch's timeline at debug level and hands it to
// Config.OnSwitchTimeline. Called without d.mu.
func (d *downTrack) reportSwitch(tl SwitchTimeline) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	d.peer.sfu.log.Debug("video switch", "peer", tl.Receiver, "partner", tl.Sender,
		"pli_sent_ms", ms(tl.PLISent), "keyframe_received_ms", ms(tl.KeyframeReceived),
		"first_forwarded_ms", ms(tl.FirstForwarded), "keyframe_forwarded_ms", ms(tl.KeyframeForwarded),
		"from_cache", tl.FromCache)
	if f := d.peer.sfu.cfg.OnSwitchTimeline; f != nil {
		f(tl)
	}
}
