package sfu

import (
	"fmt"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// startControlLocked starts the peer's control goroutine: it sends keyframe requests (PLIs),
// NACKs for missing video packets (when a gap opens, and every feedbackInterval) and the
// congestion control feedback (every feedbackInterval), the sender and receiver reports and the bitrate cap (every
// reportInterval, and the cap whenever the partner's estimate changes) to the client, runs
// the video pause's trials (bitrate.go), and turns connection-state changes into OnFailed. It runs until done is closed.
// Called with p.mu held.
func (p *Peer) startControlLocked(pc *webrtc.PeerConnection, rx *receiver, done chan struct{}) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.control(pc, rx, done)
	}()
}

// feedbackInterval is how often NACKs for missing packets and transport-wide congestion
// control feedback go out (the latter as Pion's TWCC interceptor does). One ticker serves
// both: each tick wakes the goroutine, and with many peers the wake-ups add up.
const feedbackInterval = 100 * time.Millisecond

// control is the body of the control goroutine.
func (p *Peer) control(pc *webrtc.PeerConnection, rx *receiver, done <-chan struct{}) {
	timeout := p.sfu.cfg.DisconnectTimeout
	disconnected := time.NewTimer(timeout)
	disconnected.Stop()
	defer disconnected.Stop()
	reports := time.NewTicker(reportInterval)
	defer reports.Stop()
	feedback := time.NewTicker(feedbackInterval)
	defer feedback.Stop()
	var nackSeqs []uint16
	for {
		select {
		case <-done:
			return
		case <-reports.C:
			p.sendReports(pc)
			p.checkVideo()
			p.sendCap(pc)
		case <-p.capReq:
			p.sendCap(pc)
		case <-p.nackReq:
			nackSeqs = p.sendNACKs(pc, nackSeqs)
		case <-feedback.C:
			nackSeqs = p.sendNACKs(pc, nackSeqs)
			rx.sendTWCC(pc)
		case <-p.keyframeReq:
			p.sendPLI(pc)
		case <-p.stateChange:
			switch webrtc.PeerConnectionState(p.connState.Load()) {
			case webrtc.PeerConnectionStateConnected:
				disconnected.Stop()
				p.failing.Store(false) // recovered: the next failure is reported again
			case webrtc.PeerConnectionStateDisconnected:
				disconnected.Reset(timeout)
			case webrtc.PeerConnectionStateFailed:
				p.failAsync(fmt.Errorf("ice/dtls failed"))
			case webrtc.PeerConnectionStateClosed:
				p.failAsync(errRemoteClosed)
			}
		case <-disconnected.C:
			p.failAsync(fmt.Errorf("ice disconnected for more than %s", timeout))
		}
	}
}

// failAsync calls OnFailed with err on a goroutine of its own, once per failure: again only
// after the PeerConnection connected again or was replaced. That
// goroutine is not waited for by Close, so OnFailed may call Close; it ends when OnFailed
// returns.
func (p *Peer) failAsync(err error) {
	if p.failing.CompareAndSwap(false, true) {
		go p.fail(err)
	}
}

// requestKeyframe asks the peer's client for a keyframe of its video. Unless force is set, a
// request closer than Config.KeyframeInterval to the previous one is dropped. It never blocks,
// so it may be called on the forwarding path and under the caller's locks.
func (p *Peer) requestKeyframe(force bool) {
	now := time.Now().UnixNano()
	last := p.lastPLI.Load()
	if !force && now-last < int64(p.sfu.cfg.KeyframeInterval) {
		return
	}
	if !p.lastPLI.CompareAndSwap(last, now) && !force {
		return // another goroutine is requesting right now
	}
	select {
	case p.keyframeReq <- struct{}{}:
	default:
	}
}

// sendPLI writes a PLI for the client's current video up track, if it has one.
func (p *Peer) sendPLI(pc *webrtc.PeerConnection) {
	up := p.up[kindVideo].Load()
	if up == nil {
		return
	}
	err := p.writeRTCP(pc, []rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: up.ssrc}})
	if err != nil {
		p.sfu.log.Debug("send pli", "peer", p.id, "err", err)
		return
	}
	p.pliSentAt.Store(time.Now().UnixNano())
	p.sfu.counters.plisSent.Add(1)
}
