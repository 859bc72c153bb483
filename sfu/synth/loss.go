package synth

import (
	"strings"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// lossFactory builds the interceptor that loses every nth video packet of the client's
// own stream on the wire (Options.DropEvery). It sits closest to the wire, so the packet is
// in the NACK responder's cache and its retransmission (on the RTX stream, when negotiated)
// goes out.
type lossFactory struct{ every int }

func (f lossFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &loss{every: uint64(f.every)}, nil
}

type loss struct {
	interceptor.NoOp
	every   uint64
	written atomic.Uint64
	dropped atomic.Uint64
}

// BindLocalStream drops every nth packet of a video stream's media SSRC; retransmissions (on
// the RTX SSRC, or repeated media packets) pass.
func (l *loss) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if !strings.HasPrefix(strings.ToLower(info.MimeType), "video/") {
		return w
	}
	var newest uint16
	var started bool
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		fresh := h.SSRC == info.SSRC && (!started || int16(h.SequenceNumber-newest) > 0)
		if fresh {
			started, newest = true, h.SequenceNumber
			if l.written.Add(1)%l.every == 0 {
				l.dropped.Add(1)
				return len(payload), nil
			}
		}
		return w.Write(h, payload, a)
	})
}
