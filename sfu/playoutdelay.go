package sfu

import (
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// After a partner switch the receiving browser would pass the new partner's first frames
// through its jitter buffer, whose delay it learnt on the old partner's stream: measured in
// Chromium (make nextbench, docs/performance.md), most of the time from Next to the new face
// went by inside the receiving browser after the keyframe had arrived. So for a short window
// after each switch the server marks the video it forwards with the playout-delay header
// extension at min=max=0, which makes Chromium decode and show each frame as soon as it is
// complete; then, for a while longer, with min=0 and max=10 s (what the browser assumes
// without the extension), so it returns to its usual jitter buffer. A client that did not
// negotiate the extension (Firefox) gets nothing of it.

// playoutDelayURI is the RTP header extension (webrtc.org experiments) a sender uses to tell
// the receiver the least and most time to hold a frame before showing it.
const playoutDelayURI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"

// restoreSpan is how long after the low-latency window packets carry the default limits
// again: several frames, so that one lost packet does not leave the receiver without its
// jitter buffer.
const restoreSpan = 500 * time.Millisecond

// The extension's payloads: MIN and MAX of 12 bits each, in 10 ms units.
var (
	playoutZero    = []byte{0x00, 0x00, 0x00}
	playoutDefault = []byte{0x00, 0x03, 0xe8} // min 0, max 1000 (10 s)
)

// playoutMark is what a forwarded video packet says about its playout delay.
type playoutMark uint8

const (
	playoutNone    playoutMark = iota // nothing: the receiver keeps what it has
	playoutAtOnce                     // min=max=0: show each frame as soon as it is decoded
	playoutRestore                    // min=0, max=10 s: the receiver's own jitter buffer again
)

// playoutWindow follows one video downTrack's windows after a switch; guarded by the
// downTrack's mutex.
type playoutWindow struct {
	atOnceUntil  int64 // unix nanos; packets before it get playoutAtOnce
	restoreUntil int64 // unix nanos; packets before it (and after atOnceUntil) get playoutRestore
}

// packet returns the mark for a packet forwarded at now; switched is set for the first
// packet of a new partner, which opens the windows (window long at once). A window of 0 or
// less leaves every packet unmarked.
func (w *playoutWindow) packet(switched bool, now int64, window time.Duration) playoutMark {
	if window <= 0 {
		return playoutNone
	}
	if switched {
		w.atOnceUntil = now + int64(window)
		w.restoreUntil = w.atOnceUntil + int64(restoreSpan)
	}
	switch {
	case now < w.atOnceUntil:
		return playoutAtOnce
	case now < w.restoreUntil:
		return playoutRestore
	}
	return playoutNone
}

// playoutExtID returns the id the client negotiated for the playout-delay extension, or 0.
func playoutExtID(exts []webrtc.RTPHeaderExtensionParameter) uint8 {
	for _, e := range exts {
		if e.URI == playoutDelayURI && e.ID > 0 && e.ID < 256 {
			return uint8(e.ID)
		}
	}
	return 0
}

// setPlayoutDelay adds the extension for mark to h, which carries no other extension.
func setPlayoutDelay(h *rtp.Header, id uint8, mark playoutMark) {
	payload := playoutZero
	if mark == playoutRestore {
		payload = playoutDefault
	}
	h.Extension = true
	h.ExtensionProfile = rtp.ExtensionProfileOneByte
	if id > 14 {
		h.ExtensionProfile = rtp.ExtensionProfileTwoByte
	}
	_ = h.SetExtension(id, payload) // cannot fail: a valid id and 3 bytes for either profile
}
