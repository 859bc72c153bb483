package server

import (
	"crypto/sha256"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/tandemchat/tandem/cluster"
	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/signaling"
)

// bridgeMedia carries the media of pairs across instances over the cluster's
// media bridge. Each such pair has, on each instance, the local user's SFU
// peer paired with a bridged peer standing for the partner (sfu.BridgedPeer).
//
// A bridged datagram's stream id names a user and what it carries: the
// user's key (userKey) with its two low bits 0 for the user's audio, 1 for
// its video, 2 for a request that the user send a keyframe, 3 for feedback
// from the user's instance about its partner's media (an RTCP NACK for
// video lost on the bridge, or a REMB with the cap the user's downlink puts
// on the partner's sender), after the partner's key (8 bytes) so that
// feedback meant for an earlier partner is dropped.
//
// PairRemote and UnpairRemote are called with the hub's mutex held and do no
// I/O; HandleBridged runs on the one goroutine that reads the bridge's
// socket (an SFU poller's, cluster.BridgeListener).
type bridgeMedia struct {
	sfu    *sfu.SFU
	bridge *cluster.Bridge // set once the bridge listens
	log    *slog.Logger

	mu      sync.RWMutex
	remote  map[uint64]*sfu.BridgedPeer    // by the partner's key: where its media arrives
	local   map[uint64]*sfu.Peer           // by the local user's key: whom a keyframe request is for
	pairing map[*sfu.Peer]*sfu.BridgedPeer // the local peer's bridged partner

	// loseVideo, if above 0, makes the bridge lose every loseVideo-th new
	// video packet this instance sends (retransmissions pass): a test hook
	// standing for a lossy network between instances, for tests with one
	// bridged video stream (export_test.go). See lose.
	loseVideo  atomic.Uint64
	videoSent  atomic.Uint64 // new video packets counted by lose
	loseNewest atomic.Uint32 // the newest sequence number lose saw, | 1<<16 once set
}

const (
	streamAudio    = 0
	streamVideo    = 1
	streamKeyframe = 2
	streamFeedback = 3
	streamKindMask = 3
)

func newBridgeMedia(s *sfu.SFU, log *slog.Logger) *bridgeMedia {
	return &bridgeMedia{sfu: s, log: log, remote: map[uint64]*sfu.BridgedPeer{},
		local: map[uint64]*sfu.Peer{}, pairing: map[*sfu.Peer]*sfu.BridgedPeer{}}
}

// userKey is a user's id in the bridge's stream ids.
func userKey(id string) uint64 {
	sum := sha256.Sum256([]byte(id))
	return binary.BigEndian.Uint64(sum[:8]) &^ streamKindMask
}

// PairRemote pairs local with the user remoteID held by instance, whose
// bridge listens on bridgeAddr.
func (m *bridgeMedia) PairRemote(local signaling.MediaPeer, remoteID, instance, bridgeAddr string) {
	lp := peerOf(local)
	addr, err := netip.ParseAddrPort(bridgeAddr)
	if lp == nil || m.bridge == nil || err != nil {
		m.log.Warn("media across instances not bridged", "partner", remoteID, "instance", instance, "bridge", bridgeAddr, "err", err)
		return
	}
	link, err := m.bridge.AddPeer(instance, addr)
	if err != nil {
		m.log.Warn("media bridge link", "instance", instance, "err", err)
		return
	}
	m.UnpairRemote(local)
	out := &bridgeOut{m: m, link: link, self: userKey(lp.ID()), partner: userKey(remoteID)}
	bp := m.sfu.NewBridgedPeer(remoteID, out)
	m.mu.Lock()
	m.remote[out.partner] = bp
	m.local[out.self] = lp
	m.pairing[lp] = bp
	m.mu.Unlock()
	sfu.Pair(lp, bp.Peer)
}

// UnpairRemote parts local from its partner on another instance, if it has one.
func (m *bridgeMedia) UnpairRemote(local signaling.MediaPeer) {
	lp := peerOf(local)
	m.mu.Lock()
	bp := m.pairing[lp]
	if bp != nil {
		delete(m.pairing, lp)
		delete(m.remote, userKey(bp.ID()))
		delete(m.local, userKey(lp.ID()))
	}
	m.mu.Unlock()
	if bp != nil {
		bp.Close() // unpairs lp from it
	}
}

// HandleBridged implements cluster.BridgeSink.
func (m *bridgeMedia) HandleBridged(_ string, stream uint64, pkt []byte) {
	key := stream &^ streamKindMask
	switch stream & streamKindMask {
	case streamAudio, streamVideo:
		m.mu.RLock()
		bp := m.remote[key]
		m.mu.RUnlock()
		if bp != nil {
			bp.Deliver(stream&streamKindMask == streamVideo, pkt)
		}
	case streamKeyframe:
		m.mu.RLock()
		p := m.local[key]
		m.mu.RUnlock()
		if p != nil {
			p.RequestKeyframe()
		}
	case streamFeedback:
		m.handleFeedback(key, pkt)
	}
}

// handleFeedback hands feedback from the instance of the user key (about the
// media of the local user named in its first 8 bytes) to the bridged peer
// standing for that user, if the two are still partners.
func (m *bridgeMedia) handleFeedback(key uint64, pkt []byte) {
	if len(pkt) < 8 {
		return
	}
	m.mu.RLock()
	bp := m.remote[key]
	m.mu.RUnlock()
	if bp == nil {
		return
	}
	if lp := bp.Partner(); lp == nil || userKey(lp.ID()) != binary.BigEndian.Uint64(pkt[:8]) {
		return // about an earlier partner's media
	}
	bp.HandleFeedback(pkt[8:])
}

// lose is the test hook's loss (loseVideo): it reports whether the video
// packet pkt is to be lost, every loseVideo-th packet newer than the newest
// one seen before. Retransmissions (and reordered packets) always pass.
func (m *bridgeMedia) lose(pkt []byte) bool {
	every := m.loseVideo.Load()
	if len(pkt) < 4 || every == 0 {
		return false
	}
	seq := binary.BigEndian.Uint16(pkt[2:4])
	newest := m.loseNewest.Load()
	if newest != 0 && int16(seq-uint16(newest)) <= 0 {
		return false
	}
	m.loseNewest.Store(uint32(seq) | 1<<16)
	return m.videoSent.Add(1)%every == 0
}

// bridgeOut sends one pair's media, keyframe requests and feedback to the
// partner's instance.
type bridgeOut struct {
	m             *bridgeMedia
	link          *cluster.BridgePeer
	self, partner uint64 // the users' keys
}

func (o *bridgeOut) SendRTP(video bool, pkt []byte) {
	kind := uint64(streamAudio)
	if video {
		kind = streamVideo
		if o.m.loseVideo.Load() > 0 && o.m.lose(pkt) {
			return
		}
	}
	_ = o.link.Send(o.self|kind, pkt) // a lost datagram is a lost packet
}

func (o *bridgeOut) RequestKeyframe() {
	_ = o.link.SendNow(o.partner|streamKeyframe, nil) // a switch of partners waits for it
}

func (o *bridgeOut) SendFeedback(pkt []byte) {
	var buf [8 + cluster.MaxBridgedPacket]byte
	if len(pkt) > len(buf)-8 {
		return
	}
	binary.BigEndian.PutUint64(buf[:8], o.partner)
	n := 8 + copy(buf[8:], pkt)
	_ = o.link.SendNow(o.self|streamFeedback, buf[:n]) // NACKs are worth their speed
}

// clusterMedia is the SFU as signaling's Media in cluster mode: sfuMedia,
// and the bridge for partners on other instances (signaling.RemoteMedia).
type clusterMedia struct {
	sfuMedia
	*bridgeMedia
}
