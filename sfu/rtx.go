package sfu

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// RTX (RFC 4588): retransmissions on a stream of their own, with their own SSRC and payload
// type, the original sequence number (OSN) in the first two bytes of the payload. A browser
// that negotiates it sends its retransmissions, and its bandwidth probes (padding only), that
// way, and counts what it receives that way as retransmitted rather than as late media. The
// server offers it for video (codecs.go) and speaks it on both legs where the client accepts:
//
//   - up: the receiver unwraps a client's RTX packet into the original packet of its video up
//     track (unwrapRTX), after recording its transport-wide sequence number; a padding-only
//     probe is recorded and dropped.
//   - down: the down track answers a client's NACK on its RTX SSRC (wrapRTX) when the client
//     negotiated it, from the same cache.

// rtxOSNLen is the size of the original sequence number that starts an RTX payload.
const rtxOSNLen = 2

// parseAPT returns the payload type an RTX fmtp value ("97 apt=96") names as its original.
func parseAPT(fmtp string) (rtxPT, apt uint8, ok bool) {
	ptStr, params, found := strings.Cut(fmtp, " ")
	pt, err := strconv.ParseUint(ptStr, 10, 7)
	if !found || err != nil {
		return 0, 0, false
	}
	for _, param := range strings.Split(params, ";") {
		key, value, _ := strings.Cut(strings.TrimSpace(param), "=")
		if key != "apt" {
			continue
		}
		n, err := strconv.ParseUint(value, 10, 7)
		if err != nil {
			return 0, 0, false
		}
		return uint8(pt), uint8(n), true
	}
	return 0, 0, false
}

// rtxPayloadType finds, among a track's negotiated codecs, the RTX payload type whose
// original is pt.
func rtxPayloadType(codecs []webrtc.RTPCodecParameters, pt webrtc.PayloadType) (uint8, bool) {
	for _, c := range codecs {
		if !strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) {
			continue
		}
		if _, apt, ok := parseAPT(fmt.Sprintf("%d %s", c.PayloadType, c.SDPFmtpLine)); ok && apt == uint8(pt) {
			return uint8(c.PayloadType), true
		}
	}
	return 0, false
}

// unwrapRTX turns an RTX packet into the original packet (in place): the OSN becomes the
// sequence number, the payload loses it, and the payload type and SSRC become the original
// stream's. It reports false for a packet with no original payload (a padding-only probe).
func unwrapRTX(pkt *rtp.Packet, pt uint8, ssrc uint32) bool {
	if len(pkt.Payload) <= rtxOSNLen {
		return false
	}
	pkt.SequenceNumber = binary.BigEndian.Uint16(pkt.Payload)
	pkt.Payload = pkt.Payload[rtxOSNLen:]
	pkt.PayloadType = pt
	pkt.SSRC = ssrc
	return true
}

// wrapRTX turns a cached packet into its RTX retransmission: buf holds the original payload
// at buf[rtxOSNLen:]; the OSN goes in front of it and h gets the RTX stream's payload type,
// SSRC and sequence number. It returns the RTX payload.
func wrapRTX(h *rtp.Header, buf []byte, payloadLen int, pt uint8, ssrc uint32, seq uint16) []byte {
	binary.BigEndian.PutUint16(buf, h.SequenceNumber)
	h.PayloadType = pt
	h.SSRC = ssrc
	h.SequenceNumber = seq
	return buf[:rtxOSNLen+payloadLen]
}
