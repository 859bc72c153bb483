package web_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/tandemchat/tandem/web"
)

// The tandem server answers the client's offer and never offers itself
// today, but the protocol lets it renegotiate and says the client must
// answer. offeringServer plays the server's side of protocol.md with a real
// Pion PeerConnection so the test can send the page a server offer (an ICE
// restart) and check that the page answers it on the same PeerConnection.

// envelope is one protocol message.
type envelope struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
}

// offeringServer serves the web client and one WebSocket session.
type offeringServer struct {
	t       *testing.T
	renegot chan struct{} // ask the session to send a server offer
	answers chan error    // result of applying each client answer to a server offer
	iceUp   chan struct{} // ICE reached "connected" (buffered; one per time)
	done    chan struct{} // the session's handler returned
}

func newOfferingServer(t *testing.T) (*offeringServer, *httptest.Server) {
	o := &offeringServer{
		t:       t,
		renegot: make(chan struct{}),
		answers: make(chan error, 4),
		iceUp:   make(chan struct{}, 4),
		done:    make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", o.serveWS)
	mux.Handle("/", web.Handler())
	return o, httptest.NewServer(mux)
}

// serveWS runs one session: welcome, answer the client's offer, trickle ICE
// both ways, and on request send an ICE-restart offer and apply the answer.
func (o *offeringServer) serveWS(w http.ResponseWriter, r *http.Request) {
	defer close(o.done)
	conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		o.t.Errorf("upgrade: %v", err)
		return
	}
	defer conn.Close()
	var writeMu sync.Mutex
	send := func(typ string, data any) {
		writeMu.Lock()
		defer writeMu.Unlock()
		_ = conn.WriteJSON(map[string]any{"type": typ, "data": data})
	}
	pc, err := loopbackPeerConnection()
	if err != nil {
		o.t.Errorf("peer connection: %v", err)
		return
	}
	defer pc.Close()
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			init := c.ToJSON()
			send("ice_candidate", map[string]any{"candidate": init.Candidate, "sdpMid": init.SDPMid, "sdpMLineIndex": init.SDPMLineIndex})
		}
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s == webrtc.ICEConnectionStateConnected {
			select {
			case o.iceUp <- struct{}{}:
			default:
			}
		}
	})
	send("welcome", map[string]any{"userId": "00000000-0000-4000-8000-000000000001", "iceServers": []any{}, "protocol": 1})

	msgs := make(chan envelope)
	go func() {
		defer close(msgs)
		for {
			var m envelope
			if err := conn.ReadJSON(&m); err != nil {
				return
			}
			msgs <- m
		}
	}()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return
			}
			o.handle(pc, m, send)
		case <-o.renegot:
			offer, err := pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
			if err == nil {
				err = pc.SetLocalDescription(offer)
			}
			if err != nil {
				o.answers <- fmt.Errorf("make a server offer: %w", err)
				continue
			}
			send("webrtc_offer", map[string]any{"sdp": offer.SDP})
		}
	}
}

// handle applies one client message to the server's PeerConnection.
func (o *offeringServer) handle(pc *webrtc.PeerConnection, m envelope, send func(string, any)) {
	var d struct {
		SDP           string  `json:"sdp"`
		Candidate     string  `json:"candidate"`
		SDPMid        *string `json:"sdpMid"`
		SDPMLineIndex *uint16 `json:"sdpMLineIndex"`
	}
	_ = json.Unmarshal(m.Data, &d)
	switch m.Type {
	case "webrtc_offer":
		err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: d.SDP})
		var answer webrtc.SessionDescription
		if err == nil {
			answer, err = pc.CreateAnswer(nil)
		}
		if err == nil {
			err = pc.SetLocalDescription(answer)
		}
		if err != nil {
			o.t.Errorf("answer the client's offer: %v", err)
			return
		}
		send("webrtc_answer", map[string]any{"sdp": answer.SDP})
	case "webrtc_answer":
		o.answers <- pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: d.SDP})
	case "ice_candidate":
		if d.Candidate != "" {
			_ = pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: d.Candidate, SDPMid: d.SDPMid, SDPMLineIndex: d.SDPMLineIndex})
		}
	}
}

// loopbackPeerConnection is a Pion PeerConnection that gathers on 127.0.0.1 only.
func loopbackPeerConnection() (*webrtc.PeerConnection, error) {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	var media webrtc.MediaEngine
	if err := media.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("register codecs: %w", err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(&media)).NewPeerConnection(webrtc.Configuration{})
}

// waitChan waits for one value from ch or fails the test after waitTimeout.
func waitChan[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		var zero T
		return zero
	}
}

func TestPageAnswersAServerOfferOnTheSamePeerConnection(t *testing.T) {
	requireBrowser(t)
	srv, ts := newOfferingServer(t)
	t.Cleanup(func() {
		// Runs after the browser closed (cleanups run last first): the
		// session ends with the socket, then the listener goes.
		select {
		case <-srv.done:
		case <-time.After(waitTimeout):
			t.Errorf("the WebSocket session did not end after the browser closed")
		}
		ts.Close()
	})
	page := newBrowser(t, "page", browserOptions{camera: green})
	page.open(ts.URL)
	page.click("Start")
	waitChan(t, "ICE to connect", srv.iceUp)

	srv.renegot <- struct{}{}
	if err := waitChan(t, "the page's answer", srv.answers); err != nil {
		t.Fatalf("the page's answer to a server offer does not apply: %v\n%s", err, page.Report())
	}
	waitChan(t, "ICE to connect again after the restart", srv.iceUp)
	page.WaitFor("the page to be stable with the server's offer applied", `(() => {
	  const pc = window.__tandemProbe.pcs[0];
	  return pc.signalingState === 'stable' && pc.currentRemoteDescription?.type === 'offer';
	})()`)
	if pcs, offers := page.probe("peerConnections"), page.probe("offers"); pcs != 1 || offers != 1 {
		t.Errorf("the page used %d RTCPeerConnections and sent %d offers, want 1 and 1", pcs, offers)
	}
}
