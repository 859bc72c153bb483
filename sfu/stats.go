package sfu

import (
	"sync/atomic"
)

// Stats is a snapshot of the process-wide media counters, all monotonic since New except
// Peers.
type Stats struct {
	AudioPacketsForwarded uint64 `json:"audioPacketsForwarded"` // RTP packets written into audio downTracks
	AudioBytesForwarded   uint64 `json:"audioBytesForwarded"`   // their payload bytes
	VideoPacketsForwarded uint64 `json:"videoPacketsForwarded"`
	VideoBytesForwarded   uint64 `json:"videoBytesForwarded"`
	// VideoPacketsHeld counts video packets dropped while a downTrack waited for the new
	// source's keyframe after a switch.
	VideoPacketsHeld uint64 `json:"videoPacketsHeld"`
	// PLIsSent counts picture loss indications the SFU sent to clients (after switches and
	// relayed from receivers).
	PLIsSent uint64 `json:"plisSent"`
	// KeyframeRequestsReceived counts PLI and FIR packets received from clients on their
	// downTracks.
	KeyframeRequestsReceived uint64 `json:"keyframeRequestsReceived"`
	// NACKsReceived counts NACK packets received from clients about the streams the SFU sends.
	NACKsReceived uint64 `json:"nacksReceived"`
	// Retransmissions counts packets the NACK responder resent from its cache.
	Retransmissions uint64 `json:"retransmissions"`
	// RetransmissionsDuplicate counts packets a NACK asked for that were not resent because
	// they had been resent less than 100 ms before (the same loss reported again).
	RetransmissionsDuplicate uint64 `json:"retransmissionsDuplicate"`
	// RetransmissionsOverBudget counts packets a NACK asked for that were not resent because
	// the receiver had used up its retransmission budget (half the bytes forwarded to it).
	RetransmissionsOverBudget uint64 `json:"retransmissionsOverBudget"`
	// KeyframeSwitches counts completed video source switches (a keyframe of the new source
	// was forwarded).
	KeyframeSwitches uint64 `json:"keyframeSwitches"`
	// SwitchesFromCache counts video switches that began with the new partner's cached
	// keyframe and the frames after it (gopcache.go) instead of waiting for a new keyframe;
	// ReplayedPackets counts the packets so replayed.
	SwitchesFromCache uint64 `json:"switchesFromCache"`
	ReplayedPackets   uint64 `json:"replayedPackets"`
	// FastPathPackets counts the RTP and RTCP packets from clients that the SFU decrypted on
	// the goroutine that reads the socket (sfu/transport) instead of through Pion's receive
	// pipeline.
	FastPathPackets uint64 `json:"fastPathPackets"`
	// FastPathPacketsSent counts the RTP packets the SFU encrypted and wrote to the client's
	// socket itself (sfu/transport) instead of through Pion's send pipeline.
	FastPathPacketsSent uint64 `json:"fastPathPacketsSent"`
	// CandidatesRefused counts ICE candidates from clients (trickled or in offers) that were
	// ignored because they named an address in a refused range (private, loopback,
	// link-local, ...) that holds none of the server's media addresses.
	CandidatesRefused uint64 `json:"candidatesRefused"`
	// SourcesRefused counts datagrams for Pion's ICE agent dropped because they came from such
	// an address (they would have made it a peer-reflexive candidate).
	SourcesRefused uint64 `json:"sourcesRefused"`
	// NoMediaPort counts first offers refused with ErrNoMediaPort: the UDP port range was
	// exhausted.
	NoMediaPort uint64 `json:"noMediaPort"`
	// REMBsReceived counts the downlink estimates (REMB) clients sent about the video the
	// server sends them; CapsSent the REMB caps the server sent senders from them.
	REMBsReceived uint64 `json:"rembsReceived"`
	CapsSent      uint64 `json:"capsSent"`
	// VideoPauses counts the times video to a client was paused because its downlink estimate
	// fell under the floor; VideoPacketsPaused the video packets not forwarded while paused.
	VideoPauses        uint64 `json:"videoPauses"`
	VideoPacketsPaused uint64 `json:"videoPacketsPaused"`
	// UnrepairedLosses counts video packets from clients still missing after the SFU's last
	// NACK for them; each such loss asks the sender for a keyframe (throttled).
	UnrepairedLosses uint64 `json:"unrepairedLosses"`
	// RTXReceived counts retransmissions clients sent as RTX (RFC 4588) that the SFU unwrapped
	// into their video; RTXSent the retransmissions it sent clients as RTX (part of
	// Retransmissions).
	RTXReceived uint64 `json:"rtxReceived"`
	RTXSent     uint64 `json:"rtxSent"`
	// Peers is the number of peers with an open PeerConnection.
	Peers int64 `json:"peers"`
}

// counters are the atomics behind Stats.
type counters struct {
	audioPackets, audioBytes atomic.Uint64
	videoPackets, videoBytes atomic.Uint64
	videoHeld                atomic.Uint64
	plisSent                 atomic.Uint64
	keyframeRequests         atomic.Uint64
	nacksReceived            atomic.Uint64
	retransmissions          atomic.Uint64
	retransmitsDuplicate     atomic.Uint64
	retransmitsOverBudget    atomic.Uint64
	keyframeSwitches         atomic.Uint64
	gopReplays               atomic.Uint64
	gopReplayedPackets       atomic.Uint64
	candidatesRefused        atomic.Uint64
	sourcesRefused           atomic.Uint64
	noMediaPort              atomic.Uint64
	rembsReceived, capsSent  atomic.Uint64
	videoPauses              atomic.Uint64
	videoPausedDrops         atomic.Uint64
	unrepaired               atomic.Uint64
	rtxReceived, rtxSent     atomic.Uint64
	peers                    atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		AudioPacketsForwarded:     c.audioPackets.Load(),
		AudioBytesForwarded:       c.audioBytes.Load(),
		VideoPacketsForwarded:     c.videoPackets.Load(),
		VideoBytesForwarded:       c.videoBytes.Load(),
		REMBsReceived:             c.rembsReceived.Load(),
		CapsSent:                  c.capsSent.Load(),
		VideoPauses:               c.videoPauses.Load(),
		VideoPacketsPaused:        c.videoPausedDrops.Load(),
		UnrepairedLosses:          c.unrepaired.Load(),
		RTXReceived:               c.rtxReceived.Load(),
		RTXSent:                   c.rtxSent.Load(),
		VideoPacketsHeld:          c.videoHeld.Load(),
		PLIsSent:                  c.plisSent.Load(),
		KeyframeRequestsReceived:  c.keyframeRequests.Load(),
		NACKsReceived:             c.nacksReceived.Load(),
		Retransmissions:           c.retransmissions.Load(),
		RetransmissionsDuplicate:  c.retransmitsDuplicate.Load(),
		RetransmissionsOverBudget: c.retransmitsOverBudget.Load(),
		KeyframeSwitches:          c.keyframeSwitches.Load(),
		SwitchesFromCache:         c.gopReplays.Load(),
		ReplayedPackets:           c.gopReplayedPackets.Load(),
		CandidatesRefused:         c.candidatesRefused.Load(),
		SourcesRefused:            c.sourcesRefused.Load(),
		NoMediaPort:               c.noMediaPort.Load(),
		Peers:                     c.peers.Load(),
	}
}

// forwarded records one packet written into a downTrack of the given kind.
func (c *counters) forwarded(kind int, bytes int) {
	if kind == kindVideo {
		c.videoPackets.Add(1)
		c.videoBytes.Add(uint64(bytes))
		return
	}
	c.audioPackets.Add(1)
	c.audioBytes.Add(uint64(bytes))
}
