package sfu

import (
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// The peer's one RTCP router. The client's RTCP arrives two ways: decrypted by the transport
// (receiver.HandleRTCP, on the goroutine that read the socket) or, while the transport has no
// keys, through Pion's RTCP readers of the senders and receivers (negotiation.go). Both end
// in routeRTCP.

// handleRTCP routes each packet of one decrypted compound RTCP packet. Undecodable compound
// packets are dropped.
func (p *Peer) handleRTCP(plain []byte) {
	pkts, err := rtcp.Unmarshal(plain)
	if err != nil {
		return
	}
	for _, pkt := range pkts {
		p.routeRTCP(pkt)
	}
}

// routeRTCP hands one RTCP packet from the client to its handler: feedback about the streams
// the server sends goes to the down track it names (NACKs are answered from its cache,
// PLI/FIR go on to the partner, receiver reports give jitter and RTT, REMB estimates cap the
// partner's sender), sender reports about
// the client's own streams to the up track. Pion may hand one compound packet to several of
// its readers; what they repeat (reports) is recorded idempotently.
func (p *Peer) routeRTCP(pkt rtcp.Packet) {
	switch pk := pkt.(type) {
	case *rtcp.TransportLayerNack:
		if d := p.downTrackBySSRC(pk.MediaSSRC); d != nil {
			p.sfu.counters.nacksReceived.Add(1)
			s := resendScratches.Get().(*resendScratch)
			d.retransmit(pk, &s.hdr, s.buf[:])
			resendScratches.Put(s)
		}
	case *rtcp.PictureLossIndication:
		if d := p.downTrackBySSRC(pk.MediaSSRC); d != nil {
			d.handleRTCP(pk)
		}
	case *rtcp.ReceiverEstimatedMaximumBitrate:
		p.handleREMB(pk)
	case *rtcp.FullIntraRequest:
		p.down[kindVideo].handleRTCP(pk)
	case *rtcp.ReceiverReport:
		for _, d := range p.down {
			d.handleRTCP(pk)
		}
	case *rtcp.SenderReport:
		for _, d := range p.down {
			d.handleRTCP(pk)
		}
		for kind := range p.up {
			if up := p.up[kind].Load(); up != nil && up.ssrc == pk.SSRC {
				up.rx.senderReport(pk.NTPTime, time.Now().UnixNano())
			}
		}
	}
}

// resendScratch is the working memory of one NACK answer.
type resendScratch struct {
	hdr rtp.Header
	buf [rtxOSNLen + maxCachedPayload]byte // room for the RTX header's original sequence number
}

var resendScratches = sync.Pool{New: func() any { return new(resendScratch) }}

// downTrackBySSRC returns the down track the server sends with ssrc, or nil.
func (p *Peer) downTrackBySSRC(ssrc uint32) *downTrack {
	for _, d := range p.down {
		if b := d.binding.Load(); b != nil && b.ssrc == ssrc {
			return d
		}
	}
	return nil
}

// readRTCP reads one of Pion's RTCP streams (an RTPSender's or an RTPReceiver's) into the
// router until read fails (the sender or receiver stopped).
func (p *Peer) readRTCP(read func([]byte) (int, interceptor.Attributes, error)) {
	buf := make([]byte, 1500)
	for {
		n, _, err := read(buf)
		if err != nil {
			return
		}
		p.handleRTCP(buf[:n])
	}
}
