package synth

import (
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// trailerLen is the size of the trailer ending every payload: source id (4 bytes) and send
// time in unix nanoseconds (8 bytes).
const trailerLen = 12

// maxPayload keeps packets well under a 1200-byte MTU budget.
const maxPayload = 1100

// Packet is one received RTP packet as a test or the load tool sees it.
type Packet struct {
	Kind      webrtc.RTPCodecType
	Seq       uint16
	Timestamp uint32
	SSRC      uint32
	Source    uint32    // sender's Options.Source from the trailer; 0 if unreadable
	SentAt    time.Time // from the trailer
	At        time.Time // arrival
	// Keyframe is set on the first packet of a VP8 keyframe.
	Keyframe bool
	// PictureID is the VP8 picture ID (7 or 15 bits), or -1 if the packet has none.
	PictureID int
	// HasSendTime is set if the packet carried the abs-send-time extension; SendTime is its
	// value (seconds in 6.18 fixed point, 24 bits).
	HasSendTime bool
	SendTime    uint32
	// RTX is set for a retransmission that came on the RTX stream (RFC 4588), unwrapped.
	RTX bool
	// PlayoutMinMs and PlayoutMaxMs are the playout-delay extension's limits, or -1 if the
	// packet has none.
	PlayoutMinMs, PlayoutMaxMs int
}

// PlayoutDelayURI is the RTP header extension by which a sender bounds how long the receiver
// holds a frame before showing it (webrtc.org experiments); video clients negotiate it.
const PlayoutDelayURI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"

// playoutExtID returns the id negotiated for the playout-delay extension, or 0.
func playoutExtID(exts []webrtc.RTPHeaderExtensionParameter) uint8 {
	for _, e := range exts {
		if e.URI == PlayoutDelayURI && e.ID > 0 && e.ID < 256 {
			return uint8(e.ID)
		}
	}
	return 0
}

// parsePlayoutDelay reads the extension's 12-bit MIN and MAX (10 ms units) in ms; -1, -1 if
// ext is not 3 bytes.
func parsePlayoutDelay(ext []byte) (minMs, maxMs int) {
	if len(ext) != 3 {
		return -1, -1
	}
	v := int(ext[0])<<16 | int(ext[1])<<8 | int(ext[2])
	return (v >> 12) * 10, (v & 0xfff) * 10
}

func parsePacket(kind webrtc.RTPCodecType, h264 bool, seq uint16, ts, ssrc uint32, payload []byte, at time.Time) Packet {
	p := Packet{Kind: kind, Seq: seq, Timestamp: ts, SSRC: ssrc, At: at, PictureID: -1,
		PlayoutMinMs: -1, PlayoutMaxMs: -1}
	if len(payload) >= trailerLen {
		t := payload[len(payload)-trailerLen:]
		p.Source = binary.BigEndian.Uint32(t)
		p.SentAt = time.Unix(0, int64(binary.BigEndian.Uint64(t[4:])))
	}
	switch {
	case kind == webrtc.RTPCodecTypeVideo && h264:
		p.Keyframe = isH264KeyframeStart(payload)
	case kind == webrtc.RTPCodecTypeVideo:
		p.Keyframe = IsVP8Keyframe(payload)
		p.PictureID = vp8PictureID(payload)
	}
	return p
}

// IsVP8Keyframe reports whether a payload is the first packet of a keyframe in the format
// this package sends (and, more generally, any VP8 payload whose descriptor carries at most a
// picture id).
func IsVP8Keyframe(payload []byte) bool {
	if len(payload) < 1 || payload[0]&0x10 == 0 || payload[0]&0x07 != 0 {
		return false
	}
	off := 1
	if payload[0]&0x80 != 0 {
		if len(payload) < 3 {
			return false
		}
		off = 2
		if payload[1]&0x80 != 0 {
			off++
			if payload[2]&0x80 != 0 {
				off++
			}
		}
	}
	if len(payload) < off+6 {
		return false
	}
	h := payload[off:]
	return h[0]&0x01 == 0 && h[3] == 0x9d && h[4] == 0x01 && h[5] == 0x2a
}

// isH264KeyframeStart reports whether a payload is a single IDR NAL unit or the first FU-A
// fragment of one (what this package sends).
func isH264KeyframeStart(payload []byte) bool {
	if len(payload) < 2 {
		return false
	}
	switch payload[0] & 0x1f {
	case 5:
		return true
	case 28: // FU-A
		return payload[1]&0x80 != 0 && payload[1]&0x1f == 5
	}
	return false
}

// vp8PictureID returns the picture ID of a VP8 payload descriptor, or -1.
func vp8PictureID(payload []byte) int {
	if len(payload) < 3 || payload[0]&0x80 == 0 || payload[1]&0x80 == 0 {
		return -1
	}
	if payload[2]&0x80 == 0 {
		return int(payload[2])
	}
	if len(payload) < 4 {
		return -1
	}
	return int(payload[2]&0x7f)<<8 | int(payload[3])
}

// sendAudio writes a 20 ms packet every 20 ms until Close.
func (c *Client) sendAudio() {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: rand.Uint32(),
		SequenceNumber: uint16(rand.Uint32()), Timestamp: rand.Uint32(), Marker: true}}
	buf := make([]byte, 80+trailerLen)
	for {
		select {
		case <-c.done:
			return
		case now := <-tick.C:
			c.trailer(buf, now)
			pkt.Payload = buf
			if err := c.audio.WriteRTP(&pkt); err != nil {
				return
			}
			pkt.SequenceNumber++
			pkt.Timestamp += 960
		}
	}
}

// sendVideo writes one frame per 1/FPS, split into packets, keyframes on request (and first).
func (c *Client) sendVideo() {
	interval := time.Second / time.Duration(c.opts.FPS)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	v := videoState{
		pkt: rtp.Packet{Header: rtp.Header{Version: 2, SSRC: rand.Uint32(),
			SequenceNumber: uint16(rand.Uint32()), Timestamp: rand.Uint32()}},
		frameBytes: max(c.opts.VideoBitrate/8/c.opts.FPS, 32),
		tsStep:     uint32(90000 / c.opts.FPS),
		buf:        make([]byte, maxPayload+32),
	}
	key := true
	for {
		select {
		case <-c.done:
			return
		case <-c.keyframe:
			key = true
		case now := <-tick.C:
			if err := c.writeFrame(&v, key, now); err != nil {
				return
			}
			key = false
		}
	}
}

type videoState struct {
	pkt        rtp.Packet
	pictureID  uint16
	frameBytes int
	tsStep     uint32
	buf        []byte
}

// writeFrame sends one frame of about frameBytes in packets of at most maxPayload bytes.
func (c *Client) writeFrame(v *videoState, key bool, now time.Time) error {
	remaining := v.frameBytes
	first := true
	for remaining > 0 {
		b := v.buf[:0]
		if c.opts.H264 {
			b = h264Header(b, key, first)
		} else {
			b = vp8Header(b, key, first, v.pictureID)
		}
		n := min(remaining, maxPayload-len(b)-trailerLen)
		n = max(n, 0)
		for range n {
			b = append(b, 0xAB)
		}
		remaining -= n
		if n == 0 {
			remaining = 0
		}
		if c.opts.H264 && remaining <= 0 {
			b[1] |= 0x40 // FU-A end
		}
		b = b[:len(b)+trailerLen]
		c.trailer(b, now)
		v.pkt.Payload = b
		v.pkt.Marker = remaining <= 0
		if err := c.video.WriteRTP(&v.pkt); err != nil {
			return err
		}
		v.pkt.SequenceNumber++
		first = false
	}
	v.pkt.Timestamp += v.tsStep
	v.pictureID = (v.pictureID + 1) & 0x7fff
	return nil
}

// vp8Header appends a VP8 payload descriptor with a 15-bit picture ID and, on a frame's first
// packet, a keyframe or interframe payload header.
func vp8Header(b []byte, key, first bool, pictureID uint16) []byte {
	desc := byte(0x80) // X
	if first {
		desc |= 0x10 // S, partition 0
	}
	b = append(b, desc, 0x80, 0x80|byte(pictureID>>8&0x7f), byte(pictureID))
	if !first {
		return b
	}
	if key {
		return append(b, 0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01)
	}
	return append(b, 0x51, 0x42, 0x00)
}

// h264Header appends an FU-A indicator and header for an IDR (key) or non-IDR slice; the
// start bit on a frame's first packet (the end bit is set by the caller).
func h264Header(b []byte, key, first bool) []byte {
	nalType := byte(1)
	if key {
		nalType = 5
	}
	fu := nalType
	if first {
		fu |= 0x80
	}
	return append(b, 0x60|28, fu)
}

// trailer writes the source id and send time into the last trailerLen bytes of b.
func (c *Client) trailer(b []byte, now time.Time) {
	t := b[len(b)-trailerLen:]
	binary.BigEndian.PutUint32(t, c.opts.Source)
	binary.BigEndian.PutUint64(t[4:], uint64(now.UnixNano()))
}
