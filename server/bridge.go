package server

import (
	"crypto/sha256"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"sync"

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
// its video, 2 for a request that the user send a keyframe.
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
}

const (
	streamAudio    = 0
	streamVideo    = 1
	streamKeyframe = 2
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
	out := &bridgeOut{link: link, self: userKey(lp.ID()), partner: userKey(remoteID), log: m.log}
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
	}
}

// bridgeOut sends one pair's media and keyframe requests to the partner's instance.
type bridgeOut struct {
	link          *cluster.BridgePeer
	self, partner uint64 // the users' keys
	log           *slog.Logger
}

func (o *bridgeOut) SendRTP(video bool, pkt []byte) {
	kind := uint64(streamAudio)
	if video {
		kind = streamVideo
	}
	_ = o.link.Send(o.self|kind, pkt) // a lost datagram is a lost packet
}

func (o *bridgeOut) RequestKeyframe() {
	_ = o.link.Send(o.partner|streamKeyframe, nil)
}

// clusterMedia is the SFU as signaling's Media in cluster mode: sfuMedia,
// and the bridge for partners on other instances (signaling.RemoteMedia).
type clusterMedia struct {
	sfuMedia
	*bridgeMedia
}
