package turn

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// newPeer builds a Pion PeerConnection for tests: IPv4 only, no mDNS,
// loopback candidates included, and (when relayOnly) relay candidates only,
// accepted without the default wait.
func newPeer(servers []ICEServer, relayOnly bool) (*webrtc.PeerConnection, error) {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	se.SetRelayAcceptanceMinWait(0)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("register codecs: %w", err)
	}
	cfg := webrtc.Configuration{}
	for _, s := range servers {
		cfg.ICEServers = append(cfg.ICEServers, webrtc.ICEServer{
			URLs: s.URLs, Username: s.Username, Credential: s.Credential,
		})
	}
	if relayOnly {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me))
	pc, err := api.NewPeerConnection(cfg)
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	return pc, nil
}

// completeOffer creates an offer on pc and returns it with every candidate
// gathered (no trickle).
func completeOffer(pc *webrtc.PeerConnection) (webrtc.SessionDescription, error) {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return offer, fmt.Errorf("create offer: %w", err)
	}
	return gatherLocal(pc, offer)
}

// completeAnswer applies offer to pc and returns the full answer.
func completeAnswer(pc *webrtc.PeerConnection, offer webrtc.SessionDescription) (webrtc.SessionDescription, error) {
	if err := pc.SetRemoteDescription(offer); err != nil {
		return offer, fmt.Errorf("set offer: %w", err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return answer, fmt.Errorf("create answer: %w", err)
	}
	return gatherLocal(pc, answer)
}

func gatherLocal(pc *webrtc.PeerConnection, desc webrtc.SessionDescription) (webrtc.SessionDescription, error) {
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		return desc, fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(30 * time.Second):
		return desc, errors.New("ICE gathering did not complete in 30 s")
	}
	return *pc.LocalDescription(), nil
}

// sendVideo adds a VP8 track to pc and returns a function that starts
// sending RTP on it every 20 ms until stop is closed; the returned wait
// blocks until the sender goroutine has ended.
func sendVideo(pc *webrtc.PeerConnection) (start func(stop <-chan struct{}), wait func(), err error) {
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "tandem")
	if err != nil {
		return nil, nil, fmt.Errorf("new track: %w", err)
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		return nil, nil, fmt.Errorf("add track: %w", err)
	}
	var wg sync.WaitGroup
	start = func(stop <-chan struct{}) {
		wg.Add(2)
		go func() { // RTCP must be read for the sender to work
			defer wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := sender.Read(buf); err != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, Marker: true},
				Payload: []byte{0x10, 0x00, 0x9d, 0x01, 0x2a}}
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				pkt.SequenceNumber++
				pkt.Timestamp += 1800
				if err := track.WriteRTP(pkt); err != nil {
					return
				}
			}
		}()
	}
	return start, wg.Wait, nil
}

// receiveRTP makes pc report the first RTP packet of any remote track.
func receiveRTP(pc *webrtc.PeerConnection) <-chan struct{} {
	got := make(chan struct{})
	var once sync.Once
	pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if _, _, err := track.ReadRTP(); err == nil {
			once.Do(func() { close(got) })
		}
		buf := make([]byte, 1500)
		for {
			if _, _, err := track.Read(buf); err != nil {
				return
			}
		}
	})
	return got
}

// selectedLocalCandidate returns the local candidate of pc's selected
// candidate pair, from pc's statistics.
func selectedLocalCandidate(pc *webrtc.PeerConnection) (webrtc.ICECandidateStats, error) {
	pair, ok := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePairStats()
	if !ok {
		return webrtc.ICECandidateStats{}, errors.New("no selected candidate pair")
	}
	for _, s := range pc.GetStats() {
		if c, ok := s.(webrtc.ICECandidateStats); ok && c.ID == pair.LocalCandidateID {
			return c, nil
		}
	}
	return webrtc.ICECandidateStats{}, fmt.Errorf("local candidate %s not in stats", pair.LocalCandidateID)
}

// onlyTransport keeps the ICE server URLs for one TURN transport.
func onlyTransport(servers []ICEServer, transport string) []ICEServer {
	var out []ICEServer
	for _, s := range servers {
		var urls []string
		for _, u := range s.URLs {
			if len(u) > 5 && u[:5] == "turn:" && u[len(u)-len(transport):] == transport {
				urls = append(urls, u)
			}
		}
		if len(urls) > 0 {
			s.URLs = urls
			out = append(out, s)
		}
	}
	return out
}

func TestRelayOnlyWebRTCCallThroughOurTURN(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			s := newTestServer(t, Config{AllowLoopback: true})
			caller, err := newPeer(onlyTransport(s.ICEServers("caller", "127.0.0.1"), transport), true)
			if err != nil {
				t.Fatal(err)
			}
			callee, err := newPeer(onlyTransport(s.ICEServers("callee", "127.0.0.1"), transport), true)
			if err != nil {
				_ = caller.Close()
				t.Fatal(err)
			}
			stop := make(chan struct{})
			wait := func() {}
			defer func() { // in this order: the RTCP reader ends when caller closes
				close(stop)
				_ = caller.Close()
				_ = callee.Close()
				wait()
			}()

			start, waitSender, err := sendVideo(caller)
			if err != nil {
				t.Fatal(err)
			}
			wait = waitSender
			got := receiveRTP(callee)
			connected := make(chan struct{})
			var once sync.Once
			caller.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
				if st == webrtc.PeerConnectionStateConnected {
					once.Do(func() { close(connected) })
				}
			})

			offer, err := completeOffer(caller)
			if err != nil {
				t.Fatal(err)
			}
			answer, err := completeAnswer(callee, offer)
			if err != nil {
				t.Fatal(err)
			}
			if err := caller.SetRemoteDescription(answer); err != nil {
				t.Fatalf("set answer: %v", err)
			}
			start(stop)

			select {
			case <-connected:
			case <-time.After(30 * time.Second):
				t.Fatalf("relay-only call over TURN/%s did not connect in 30 s", transport)
			}
			select {
			case <-got:
			case <-time.After(30 * time.Second):
				t.Fatalf("no RTP arrived over TURN/%s in 30 s", transport)
			}
			local, err := selectedLocalCandidate(caller)
			if err != nil {
				t.Fatal(err)
			}
			if local.CandidateType != webrtc.ICECandidateTypeRelay || local.RelayProtocol != transport {
				t.Errorf("selected local candidate %s via %q, want relay via %s",
					local.CandidateType, local.RelayProtocol, transport)
			}
			if st := s.Stats(); st.Allocations < 2 || st.RelayedBytes == 0 {
				t.Errorf("server stats during the call %+v: want 2+ allocations and relayed bytes", st)
			}
			if ip := net.ParseIP(local.IP); !ip.Equal(s.relayIP) {
				t.Errorf("relay candidate IP %s, want the server's relay IP %s", local.IP, s.relayIP)
			}
		})
	}
}
