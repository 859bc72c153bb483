package sfu

import (
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// retransmitCounterFactory builds retransmitCounter interceptors. Pion's NACK responder does
// not report how many packets it resent, so this interceptor, placed between the responder and
// the network, counts outgoing packets whose sequence number is not newer than the newest one
// already sent on the stream.
type retransmitCounterFactory struct {
	counters *counters
}

// NewInterceptor implements interceptor.Factory.
func (f *retransmitCounterFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &retransmitCounter{counters: f.counters}, nil
}

// retransmitCounter is safe for concurrent use: per stream, the newest sequence number is an
// atomic, because the forwarding goroutine and the responder's RTCP goroutine both write.
type retransmitCounter struct {
	interceptor.NoOp
	counters *counters
}

// BindLocalStream implements interceptor.Interceptor.
func (r *retransmitCounter) BindLocalStream(_ *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	var newest atomic.Uint32 // bit 16 set once the first packet went out
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		for {
			old := newest.Load()
			if old != 0 && int16(h.SequenceNumber-uint16(old)) <= 0 {
				r.counters.retransmissions.Add(1)
				break
			}
			if newest.CompareAndSwap(old, 1<<16|uint32(h.SequenceNumber)) {
				break
			}
		}
		return writer.Write(h, payload, a)
	})
}
