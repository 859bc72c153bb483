package sfu

// isVP8Keyframe reports whether an RTP payload is the first packet of a VP8 keyframe: a VP8
// payload descriptor (RFC 7741 section 4.2) with S=1 and partition index 0, followed by a
// payload header whose P bit is 0 and the keyframe start code 9d 01 2a.
func isVP8Keyframe(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	b0 := payload[0]
	if b0&0x10 == 0 || b0&0x07 != 0 { // S bit, PID
		return false
	}
	off := 1
	if b0&0x80 != 0 { // X: extension byte follows
		if len(payload) < 2 {
			return false
		}
		x := payload[1]
		off = 2
		if x&0x80 != 0 { // I: picture ID, 7 or 15 bits
			if len(payload) <= off {
				return false
			}
			if payload[off]&0x80 != 0 {
				off += 2
			} else {
				off++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			off++
		}
		if x&0x30 != 0 { // T or K: TID/KEYIDX byte
			off++
		}
	}
	if len(payload) < off+6 {
		return false
	}
	h := payload[off:]
	return h[0]&0x01 == 0 && h[3] == 0x9d && h[4] == 0x01 && h[5] == 0x2a
}

// H.264 NAL unit types (RFC 6184).
const (
	naluIDR   = 5
	naluSPS   = 7
	naluSTAPA = 24
	naluFUA   = 28
)

// isH264Keyframe reports whether an RTP payload starts an H.264 keyframe: an IDR slice or a
// sequence parameter set (sent right before one), alone, inside a STAP-A aggregate, or as the
// first fragment of an FU-A.
func isH264Keyframe(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	switch t := payload[0] & 0x1f; t {
	case naluIDR, naluSPS:
		return true
	case naluSTAPA:
		for rest := payload[1:]; len(rest) > 2; {
			size := int(rest[0])<<8 | int(rest[1])
			if size == 0 || len(rest) < 2+size {
				return false
			}
			if nt := rest[2] & 0x1f; nt == naluIDR || nt == naluSPS {
				return true
			}
			rest = rest[2+size:]
		}
	case naluFUA:
		if len(payload) < 2 {
			return false
		}
		start := payload[1]&0x80 != 0
		nt := payload[1] & 0x1f
		return start && (nt == naluIDR || nt == naluSPS)
	}
	return false
}
