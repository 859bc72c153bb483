package sfu

import (
	"fmt"

	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Media kinds, used as indexes into a peer's per-kind arrays.
const (
	kindAudio = 0
	kindVideo = 1
	numKinds  = 2
)

// codecSet is the one codec per kind every client must speak.
type codecSet struct {
	audio webrtc.RTPCodecParameters
	video webrtc.RTPCodecParameters
	// rtx carries video retransmissions (RFC 4588) where the client negotiates it (rtx.go).
	rtx webrtc.RTPCodecParameters
	// isKeyframe reports whether a video payload starts a keyframe.
	isKeyframe func(payload []byte) bool
}

func newCodecSet(video string) codecSet {
	videoFeedback := []webrtc.RTCPFeedback{
		{Type: webrtc.TypeRTCPFBNACK},
		{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
		{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
		{Type: webrtc.TypeRTCPFBGoogREMB},
	}
	cs := codecSet{
		audio: webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
				SDPFmtpLine: "minptime=10;useinbandfec=1",
			},
			PayloadType: 111,
		},
		video: webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback,
			},
			PayloadType: 96,
		},
		isKeyframe: isVP8Keyframe,
	}
	if video == "h264" {
		cs.video = webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: videoFeedback,
				SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
			},
			PayloadType: 102,
		}
		cs.isKeyframe = isH264Keyframe
	}
	cs.rtx = webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000,
			SDPFmtpLine: fmt.Sprintf("apt=%d", cs.video.PayloadType)},
		PayloadType: cs.video.PayloadType + 1,
	}
	return cs
}

// capability returns the codec for a media kind.
func (cs codecSet) capability(kind int) webrtc.RTPCodecCapability {
	if kind == kindVideo {
		return cs.video.RTPCodecCapability
	}
	return cs.audio.RTPCodecCapability
}

// mediaEngine registers the codec set and the transport-wide sequence number extension, and
// builds an empty interceptor registry: the SFU does all of its RTCP itself. NACKs from
// receivers are answered by the downTrack's packetCache (packetcache.go), NACKs toward senders
// come from the upTrack's nackGenerator (nackgen.go), sender and receiver reports from
// reports.go, and transport-wide congestion control feedback, which lets browsers adapt their
// send rate, from the receiver's recorder (receiver.go).
func (s *SFU) mediaEngine() (*webrtc.MediaEngine, *interceptor.Registry, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(s.codec.audio, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, nil, fmt.Errorf("register opus: %w", err)
	}
	if err := m.RegisterCodec(s.codec.video, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, nil, fmt.Errorf("register %s: %w", s.codec.video.MimeType, err)
	}
	if err := m.RegisterCodec(s.codec.rtx, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, nil, fmt.Errorf("register rtx: %w", err)
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, kind)
		ext := webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}
		if err := m.RegisterHeaderExtension(ext, kind); err != nil {
			return nil, nil, fmt.Errorf("register transport-wide sequence numbers: %w", err)
		}
	}
	// The server's video carries the send time, so the receiving browser estimates its downlink
	// and reports it in REMB (goog-remb, above), which caps the partner's sender (bitrate.go).
	ext := webrtc.RTPHeaderExtensionCapability{URI: sdp.ABSSendTimeURI}
	if err := m.RegisterHeaderExtension(ext, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, nil, fmt.Errorf("register absolute send time: %w", err)
	}
	ext = webrtc.RTPHeaderExtensionCapability{URI: playoutDelayURI}
	if err := m.RegisterHeaderExtension(ext, webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverDirectionSendonly); err != nil {
		return nil, nil, fmt.Errorf("register playout delay: %w", err)
	}
	return m, &interceptor.Registry{}, nil
}
