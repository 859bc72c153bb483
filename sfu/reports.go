package sfu

import (
	"math"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// The SFU writes its own RTCP sender and receiver reports instead of using Pion's report
// interceptors: it already handles every packet in upTrack.handle and downTrack.write, and the
// interceptors' wrapping of every read and write measured about 3.5 µs of CPU per forwarded
// packet (docs/performance.md). reportInterval is how often a peer's reports go out.
const reportInterval = time.Second

// receptionStats is what a receiver report says about one up track (RFC 3550 section 6.4.1
// and appendix A.3, A.8). packet runs on the up track's goroutine, report and senderReport on
// others; mu guards everything and is held for a few dozen nanoseconds.
type receptionStats struct {
	mu        sync.Mutex
	clockRate int64
	started   bool
	startAt   int64  // unix nanos of the first packet: arrival times are relative to it
	baseSeq   uint32 // first sequence number
	maxSeq    uint16 // highest sequence number seen
	cycles    uint32 // sequence number wraps, times 65536
	received  uint32
	// expectedPrior and receivedPrior are the counts at the previous report (fraction lost).
	expectedPrior, receivedPrior uint32
	transit                      uint32  // previous packet's arrival minus its timestamp
	jitter                       float64 // in timestamp units
	lastSR                       uint32  // middle 32 bits of the newest sender report's NTP time
	lastSRAt                     int64   // when it arrived, unix nanos
}

// packet records one received packet. Zero allocations.
func (r *receptionStats) packet(seq uint16, ts uint32, now int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		r.started, r.startAt, r.baseSeq, r.maxSeq = true, now, uint32(seq), seq
	} else if diff := int16(seq - r.maxSeq); diff > 0 {
		if seq < r.maxSeq {
			r.cycles += 1 << 16
		}
		r.maxSeq = seq
	}
	r.received++
	if r.clockRate <= 0 {
		return
	}
	// Arrival time in timestamp units, from microseconds so a long visit cannot overflow.
	arrival := uint32((now - r.startAt) / 1000 * r.clockRate / 1_000_000)
	transit := arrival - ts
	if r.received > 1 {
		d := math.Abs(float64(int32(transit - r.transit)))
		r.jitter += (d - r.jitter) / 16
	}
	r.transit = transit
}

// senderReport records the arrival of the client's sender report with NTP time ntp.
func (r *receptionStats) senderReport(ntp uint64, now int64) {
	r.mu.Lock()
	r.lastSR, r.lastSRAt = uint32(ntp>>16), now
	r.mu.Unlock()
}

// report returns the reception report block for ssrc and starts a new loss interval. ok is
// false before the first packet.
func (r *receptionStats) report(ssrc uint32, now int64) (block rtcp.ReceptionReport, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		return block, false
	}
	extMax := r.cycles + uint32(r.maxSeq)
	expected := extMax - r.baseSeq + 1
	lost := int64(expected) - int64(r.received)
	lost = min(max(lost, 0), 0x7fffff) // 24 bits; duplicates can make it negative
	expectedInterval := expected - r.expectedPrior
	lostInterval := int64(expectedInterval) - int64(r.received-r.receivedPrior)
	r.expectedPrior, r.receivedPrior = expected, r.received
	var fraction uint8
	if expectedInterval > 0 && lostInterval > 0 {
		fraction = uint8(min(lostInterval<<8/int64(expectedInterval), 255))
	}
	var delay uint32
	if r.lastSRAt != 0 {
		delay = uint32((now - r.lastSRAt) << 16 / int64(time.Second))
	}
	return rtcp.ReceptionReport{
		SSRC: ssrc, FractionLost: fraction, TotalLost: uint32(lost), LastSequenceNumber: extMax,
		Jitter: uint32(r.jitter), LastSenderReport: r.lastSR, Delay: delay,
	}, true
}

// sendStats is what a sender report says about one down track. packet runs on the forwarding
// goroutines (old and new partner around a switch), report on the control goroutine; mu
// guards everything and is never held across a network write.
type sendStats struct {
	mu        sync.Mutex
	clockRate int64
	packets   uint32
	octets    uint32
	lastTS    uint32 // timestamp of the newest packet sent
	lastAt    int64  // when it was sent, unix nanos
}

// packet records one packet sent with timestamp ts and payloadLen payload bytes.
func (s *sendStats) packet(ts uint32, payloadLen int, now int64) {
	s.mu.Lock()
	s.packets++
	s.octets += uint32(payloadLen)
	s.lastTS, s.lastAt = ts, now
	s.mu.Unlock()
}

// report returns the sender report for ssrc at now: the newest timestamp advanced by the time
// since it was sent. ok is false before the first packet.
func (s *sendStats) report(ssrc uint32, now time.Time) (sr rtcp.SenderReport, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.packets == 0 {
		return sr, false
	}
	elapsed := max(now.UnixNano()-s.lastAt, 0)
	return rtcp.SenderReport{
		SSRC: ssrc, NTPTime: ntpTime(now),
		RTPTime:     s.lastTS + uint32(elapsed/1000*s.clockRate/1_000_000),
		PacketCount: s.packets, OctetCount: s.octets,
	}, true
}

// ntpTime returns t as a 64-bit NTP timestamp (seconds since 1900 and a binary fraction).
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return secs<<32 | frac
}

// sendReports writes one compound RTCP packet: a sender report for each bound down track that
// has sent something, and a receiver report about the client's up tracks. Called by the
// control goroutine every reportInterval.
func (p *Peer) sendReports(pc *webrtc.PeerConnection) {
	now := time.Now()
	var pkts []rtcp.Packet
	var reporter uint32 // our SSRC that sends the receiver report; any of ours will do
	for _, d := range p.down {
		b := d.binding.Load()
		if b == nil {
			continue
		}
		reporter = b.ssrc
		if sr, ok := d.tx.report(b.ssrc, now); ok {
			pkts = append(pkts, &sr)
		}
	}
	rr := &rtcp.ReceiverReport{SSRC: reporter}
	for kind := range p.up {
		if up := p.up[kind].Load(); up != nil {
			if block, ok := up.rx.report(up.ssrc, now.UnixNano()); ok {
				rr.Reports = append(rr.Reports, block)
			}
		}
	}
	if len(rr.Reports) > 0 {
		pkts = append(pkts, rr)
	}
	if len(pkts) == 0 {
		return
	}
	if err := p.writeRTCP(pc, pkts); err != nil {
		p.sfu.log.Debug("send reports", "peer", p.id, "err", err)
	}
}
