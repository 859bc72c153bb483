package sfu

import (
	"sync"
	"time"

	"github.com/pion/rtp"
)

// A client waiting for a partner sends video that goes nowhere. The server keeps the part of
// it since its latest keyframe (the group of pictures) in the up track's gopCache, and asks
// the client for a fresh keyframe every gopRefresh so that part stays short. When the client
// is paired, its new partner's downTrack does not wait for the keyframe the Pair asks for:
// at the client's next video packet it replays the whole cached group first, keyframe and
// every later frame in order, so the receiver decodes the new face at once and then
// continues live with frames that depend only on what it was given. The replayed frames are
// a fraction of a second old; their timestamps are squeezed one millisecond apart and the
// live frames keep their distance to the last of them (anchorTS), so the receiver sees a
// short catch-up rather than a jump back in time.

// gopRefresh is how often a waiting client is asked for a keyframe: the age of the oldest
// frame a new partner is shown, and the bound on what the cache holds.
const gopRefresh = 500 * time.Millisecond

// Bounds of one cache; a group larger than either is dropped until the next keyframe (the
// switch then waits for the keyframe the Pair asks for, as without a cache).
const (
	gopMaxPackets = 512
	gopMaxBytes   = 512 << 10
)

// replayTick is the spacing, in the 90 kHz video clock, of the replayed frames' timestamps.
const replayTick = 90

// gopCache holds one up track's video packets from its latest keyframe on, while its client
// has no partner. Safe for concurrent use: the up track's receive goroutine stores, the new
// partner's downTrack replays (on the same goroutine, bar the rare packet of another socket);
// mu is never held while another lock is taken.
type gopCache struct {
	mu    sync.Mutex
	valid bool  // pkts start at a keyframe and nothing was dropped since
	keyAt int64 // unix nanos the keyframe arrived
	pkts  []gopPacket
	data  []byte // the payloads, back to back
}

// gopPacket is one cached packet: its header (no extensions, no CSRCs) and where its payload
// lies in data.
type gopPacket struct {
	hdr      rtp.Header
	off, end int
}

// store keeps a packet of a client that has no partner; isKey says whether it starts a
// keyframe. It asks the client for a keyframe when the group is older than gopRefresh or
// when there is none to keep.
func (c *gopCache) store(u *upTrack, pkt *rtp.Packet, isKey bool, now int64) {
	c.mu.Lock()
	if isKey {
		c.valid, c.keyAt = true, now
		c.pkts, c.data = c.pkts[:0], c.data[:0]
	}
	stale := !c.valid || now-c.keyAt > int64(gopRefresh)
	if c.valid && (len(c.pkts) == gopMaxPackets || len(c.data)+len(pkt.Payload) > gopMaxBytes) {
		c.valid = false
	}
	if c.valid {
		off := len(c.data)
		c.data = append(c.data, pkt.Payload...)
		h := pkt.Header
		h.Extension, h.Extensions, h.CSRC = false, nil, nil
		c.pkts = append(c.pkts, gopPacket{hdr: h, off: off, end: len(c.data)})
	}
	c.mu.Unlock()
	if stale {
		u.peer.requestKeyframe(false)
	}
}

// take hands over the cached group (its packets and payloads) and empties the cache, or
// returns ok=false if it holds no usable group. The caller owns what it gets.
func (c *gopCache) take() (pkts []gopPacket, data []byte, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid || len(c.pkts) == 0 {
		return nil, nil, false
	}
	pkts, data = c.pkts, c.data
	c.pkts, c.data, c.valid = nil, nil, false
	return pkts, data, true
}

// usable reports whether the cache holds a group a switch can replay.
func (c *gopCache) usable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.valid && len(c.pkts) > 0
}

// requestSwitchKeyframe asks p for a keyframe for its new partner at once, unless p's latest
// group is cached: then the partner's downTrack replays it at p's next packet, and a fresh
// keyframe would only cost a burst of bits (if the replay cannot happen after all, the
// forwarding path asks for a keyframe as it does while it waits for one).
func (p *Peer) requestSwitchKeyframe() {
	if up := p.up[kindVideo].Load(); up != nil && up.gop.usable() {
		return
	}
	p.requestKeyframe(true)
}

// clear forgets the cached group and its memory: the client has a partner again.
func (c *gopCache) clear() {
	c.mu.Lock()
	c.pkts, c.data, c.valid = nil, nil, false
	c.mu.Unlock()
}

// replayResult is what replayLocked did: ok if it replayed a group, done with the switch's
// timeline if one was being followed (to report once d.mu is released).
type replayResult struct {
	ok, done bool
	timeline SwitchTimeline
}

// replayLocked starts up as d's new source with up's cached group, if it has one: every
// cached packet is rewritten and written in order, and the rewriter is left so that live
// packets continue after them. If it has none (ok false) the switch waits for a keyframe as
// usual. Called by forward with d.mu held, for the first packet of up after a switch (which
// is not itself a keyframe), which arrived at now; it writes while holding d.mu, which only
// this rare path does (once per switch).
func (d *downTrack) replayLocked(up *upTrack, now int64) replayResult {
	pkts, data, ok := up.gop.take()
	if !ok {
		return replayResult{}
	}
	key := &pkts[0].hdr
	d.rw.switchSource(key.SequenceNumber, key.Timestamp, now)
	if d.mungeVP8 {
		d.vp8.switchSource(data[pkts[0].off:pkts[0].end])
	}
	var pkt rtp.Packet
	outTS := d.rw.tsOffset + key.Timestamp
	srcTS := key.Timestamp
	var firstAt, keyDoneAt int64
	for i := range pkts {
		p := &pkts[i]
		if p.hdr.Timestamp != srcTS {
			srcTS = p.hdr.Timestamp
			outTS += replayTick
		}
		pkt.Header = p.hdr
		pkt.Payload = data[p.off:p.end]
		seq, _, ok := d.rw.rewrite(pkt.SequenceNumber, pkt.Timestamp, now)
		if !ok {
			continue
		}
		if d.mungeVP8 {
			d.vp8.rewrite(pkt.Payload)
		}
		mark := d.playout.packet(i == 0, now, d.peer.sfu.cfg.SwitchLowLatency)
		keyDone := p.hdr.Marker && p.hdr.Timestamp == key.Timestamp
		d.write(&pkt, seq, outTS, now, mark)
		if firstAt == 0 {
			firstAt = time.Now().UnixNano()
		}
		if keyDone && keyDoneAt == 0 {
			keyDoneAt = time.Now().UnixNano()
		}
	}
	if keyDoneAt == 0 {
		keyDoneAt = time.Now().UnixNano() // the keyframe's last packet never came: the end
	}
	d.rw.anchorTS(srcTS, outTS)
	d.peer.sfu.counters.gopReplays.Add(1)
	d.peer.sfu.counters.gopReplayedPackets.Add(uint64(len(pkts)))
	r := replayResult{ok: true}
	r.timeline, r.done = d.clock.replayed(d.peer, up.peer, now, firstAt, keyDoneAt)
	return r
}

// anchorTS makes the current source's packet with timestamp src map to out, and later
// packets keep their distance to it.
func (r *rewriter) anchorTS(src, out uint32) {
	r.tsOffset = out - src
	r.lastTS = out
}
