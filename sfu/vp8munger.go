package sfu

// vp8Munger rewrites the VP8 payload descriptor's picture ID and TL0PICIDX (RFC 7741 section
// 4.2) so they continue across source switches, as the rewriter does for sequence numbers:
// a receiver's frame-reference logic then sees one stream rather than a jump at each switch.
// Only the video downTrack uses it, under its mutex; not safe for concurrent use.
type vp8Munger struct {
	started   bool
	lastPic   uint16 // newest output picture ID
	lastTL0   uint8  // newest output TL0PICIDX
	picOffset uint16
	tl0Offset uint8
}

// vp8Fields locates the picture ID (offset and width in bytes, 0 if absent) and the TL0PICIDX
// (offset, -1 if absent) in a VP8 payload; ok is false for a truncated descriptor.
func vp8Fields(payload []byte) (picOff, picLen, tl0Off int, ok bool) {
	tl0Off = -1
	if len(payload) < 1 || payload[0]&0x80 == 0 { // no X: no extension fields
		return 0, 0, -1, len(payload) >= 1
	}
	if len(payload) < 2 {
		return 0, 0, -1, false
	}
	x, off := payload[1], 2
	if x&0x80 != 0 { // I
		if len(payload) <= off {
			return 0, 0, -1, false
		}
		picOff, picLen = off, 1
		if payload[off]&0x80 != 0 {
			picLen = 2
		}
		off += picLen
	}
	if x&0x40 != 0 { // L
		tl0Off = off
		off++
	}
	return picOff, picLen, tl0Off, len(payload) >= off
}

func readPic(payload []byte, off, n int) uint16 {
	if n == 2 {
		return uint16(payload[off]&0x7f)<<8 | uint16(payload[off+1])
	}
	return uint16(payload[off] & 0x7f)
}

func writePic(payload []byte, off, n int, pic uint16) {
	if n == 2 {
		payload[off] = 0x80 | byte(pic>>8)&0x7f
		payload[off+1] = byte(pic)
		return
	}
	payload[off] = byte(pic) & 0x7f
}

// picMask is the value range of a picture ID field of n bytes.
func picMask(n int) uint16 {
	if n == 2 {
		return 0x7fff
	}
	return 0x7f
}

// switchSource makes the packet starting a new source (a keyframe) continue the numbering.
func (m *vp8Munger) switchSource(payload []byte) {
	picOff, picLen, tl0Off, ok := vp8Fields(payload)
	if !ok {
		return
	}
	if picLen > 0 {
		m.picOffset = 0
		if m.started {
			m.picOffset = m.lastPic + 1 - readPic(payload, picOff, picLen)
		}
	}
	if tl0Off >= 0 {
		m.tl0Offset = 0
		if m.started {
			m.tl0Offset = m.lastTL0 + 1 - payload[tl0Off]
		}
	}
}

// rewrite maps the packet's picture ID and TL0PICIDX in place.
func (m *vp8Munger) rewrite(payload []byte) {
	picOff, picLen, tl0Off, ok := vp8Fields(payload)
	if !ok {
		return
	}
	if picLen > 0 {
		mask := picMask(picLen)
		out := (readPic(payload, picOff, picLen) + m.picOffset) & mask
		writePic(payload, picOff, picLen, out)
		if d := (out - m.lastPic) & mask; !m.started || (d != 0 && d <= mask/2) {
			m.lastPic = out
		}
	}
	if tl0Off >= 0 {
		out := payload[tl0Off] + m.tl0Offset
		payload[tl0Off] = out
		if !m.started || int8(out-m.lastTL0) > 0 {
			m.lastTL0 = out
		}
	}
	m.started = true
}
