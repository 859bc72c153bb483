package transport

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// TestPionAssumptions runs a real Pion PeerConnection pair on loopback, the server's side
// configured by a Conn, and checks each assumption the package doc lists, in the order they
// depend on each other. A Pion upgrade that breaks one fails here, naming it, instead of
// silently sending media down Pion's slow path or black-holing it.
func TestPionAssumptions(t *testing.T) {
	tr := newTestTransport(t, Config{})
	sink := &testSink{}
	conn := tr.NewConn(sink, nil)
	defer conn.Close()

	// Record the order of the two events assumption 3 is about.
	var step, keysAt, dtlsAt atomic.Int32
	ready := conn.in.keys.ready
	conn.in.keys.ready = func(k srtpKeys) {
		keysAt.CompareAndSwap(0, step.Add(1))
		ready(k)
	}

	se := loopbackSettings()
	if err := conn.Configure(&se, nil, nil); err != nil {
		t.Fatal(err)
	}
	server := newPC(t, se)
	server.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(conn.SelectPair)
	server.SCTP().Transport().OnStateChange(func(s webrtc.DTLSTransportState) {
		if s == webrtc.DTLSTransportStateConnected {
			dtlsAt.CompareAndSwap(0, step.Add(1))
		}
	})
	client := newPC(t, loopbackSettings())

	// The client sends video and receives the server's.
	clientTrack, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8},
		"video", "client")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.AddTrack(clientTrack); err != nil {
		t.Fatal(err)
	}
	received := make(chan struct{}, 1)
	client.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if _, _, err := track.ReadRTP(); err == nil {
			received <- struct{}{}
		}
	})
	serverTrack, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8},
		"video", "server")
	if err != nil {
		t.Fatal(err)
	}
	sender := negotiate(t, client, server, serverTrack)
	waitUntil(t, "the server's PeerConnection connects", func() bool {
		return server.ConnectionState() == webrtc.PeerConnectionStateConnected
	})

	// 2 before 1: a client-side server never runs the ServerHello hook, so it has no keys.
	conn.in.keys.mu.Lock()
	sawServerHello := conn.in.keys.serverRandom != nil
	conn.in.keys.mu.Unlock()
	if !sawServerHello {
		t.Fatal("assumption 2 broken: with SetAnsweringDTLSRole(DTLSRoleServer) the answering server " +
			"was not the DTLS server (the ServerHello hook never ran), so no SRTP keys can be captured")
	}
	if !within(5*time.Second, func() bool { return conn.in.armed() && conn.out.armed.Load() }) {
		t.Fatal("assumption 1 broken: the DTLS key log (SetDTLSKeyLogWriter) and the ServerHello hook " +
			"gave no SRTP keys: every packet would take Pion's slow path")
	}
	waitUntil(t, "DTLS reported connected", func() bool { return dtlsAt.Load() != 0 })
	if keysAt.Load() > dtlsAt.Load() {
		t.Fatal("assumption 3 broken: the SRTP keys were captured after Pion's DTLS transport connected, " +
			"when Pion may already have started its SRTP sessions: two contexts could encrypt one stream")
	}

	// The keys must be the right ones both ways, or media would be black-holed.
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() { // the client's media, until the server has decrypted some
		defer close(sent)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2}, Payload: []byte{0x10, 0, 0x9d, 0x01, 0x2a}}
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				pkt.SequenceNumber++
				_ = clientTrack.WriteRTP(pkt)
			}
		}
	}()
	defer func() { close(stop); <-sent }()
	waitUntil(t, "the fast path decrypts the client's media (else assumption 1 gave wrong keys)",
		func() bool { return sink.rtp.Load() > 0 })

	params := sender.GetParameters()
	if len(params.Encodings) == 0 || len(params.Codecs) == 0 {
		t.Fatal("the server's sender has no SSRC or codec")
	}
	h := &rtp.Header{Version: 2, SSRC: uint32(params.Encodings[0].SSRC), PayloadType: uint8(params.Codecs[0].PayloadType)}
	deadline := time.After(10 * time.Second)
	for {
		h.SequenceNumber++
		taken, err := conn.WriteRTP(h, []byte{0x10, 0, 0x9d, 0x01, 0x2a})
		if !taken || (err != nil && !errors.Is(err, errNoRoute)) {
			t.Fatalf("WriteRTP with the keys known: taken %v, %v", taken, err)
		}
		select {
		case <-received:
			return
		case <-deadline:
			t.Fatalf("the client received nothing the transport sent (route %v): the server's media would be black-holed",
				conn.out.route.Load() != nil)
		case <-time.After(20 * time.Millisecond): // the next packet
		}
	}
}

// within reports whether cond holds within d.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// loopbackSettings returns a SettingEngine that gathers IPv4 loopback candidates only.
func loopbackSettings() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return se
}

// newPC returns a PeerConnection with Pion's default codecs, closed at the end of the test.
func newPC(t *testing.T, se webrtc.SettingEngine) *webrtc.PeerConnection {
	t.Helper()
	var me webrtc.MediaEngine
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(&me))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pc.GracefulClose(); err != nil {
			t.Errorf("close peer connection: %v", err)
		}
	})
	return pc
}

// negotiate has the client offer and the server answer with track attached (as the SFU
// does), both with their candidates gathered, and returns the server's sender of track.
func negotiate(t *testing.T, client, server *webrtc.PeerConnection, track webrtc.TrackLocal) *webrtc.RTPSender {
	t.Helper()
	offer, err := client.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := setLocal(client, offer); err != nil {
		t.Fatal(err)
	}
	if err := server.SetRemoteDescription(*client.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	sender, err := server.AddTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := server.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := setLocal(server, answer); err != nil {
		t.Fatal(err)
	}
	if err := client.SetRemoteDescription(*server.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	return sender
}

// setLocal sets desc and waits until the candidates are gathered into it.
func setLocal(pc *webrtc.PeerConnection, desc webrtc.SessionDescription) error {
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		return fmt.Errorf("set local %s: %w", desc.Type, err)
	}
	select {
	case <-gathered:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("gathering for the %s did not complete", desc.Type)
	}
}
