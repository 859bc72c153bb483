package sfu

import (
	"testing"

	"github.com/pion/rtp"
)

func TestParseAPT(t *testing.T) {
	for _, c := range []struct {
		in      string
		pt, apt uint8
		ok      bool
	}{
		{"97 apt=96", 97, 96, true},
		{"103 rtx-time=3000;apt=102", 103, 102, true},
		{"97 apt=300", 0, 0, false},
		{"97 profile-id=0", 0, 0, false},
		{"x apt=96", 0, 0, false},
		{"97", 0, 0, false},
	} {
		pt, apt, ok := parseAPT(c.in)
		if pt != c.pt || apt != c.apt || ok != c.ok {
			t.Errorf("parseAPT(%q) = %d, %d, %v; want %d, %d, %v", c.in, pt, apt, ok, c.pt, c.apt, c.ok)
		}
	}
}

func TestRTXWrapAndUnwrapAreInverse(t *testing.T) {
	payload := []byte{1, 2, 3, 4, 5}
	buf := make([]byte, rtxOSNLen+len(payload))
	copy(buf[rtxOSNLen:], payload)
	h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1234, SSRC: 42, Timestamp: 9}
	wrapped := wrapRTX(&h, buf, len(payload), 97, 43, 7)
	if h.PayloadType != 97 || h.SSRC != 43 || h.SequenceNumber != 7 || len(wrapped) != 7 {
		t.Fatalf("wrapped header %+v, %d bytes", h, len(wrapped))
	}
	pkt := rtp.Packet{Header: h, Payload: wrapped}
	if !unwrapRTX(&pkt, 96, 42) {
		t.Fatal("unwrap refused a wrapped packet")
	}
	if pkt.SequenceNumber != 1234 || pkt.PayloadType != 96 || pkt.SSRC != 42 || string(pkt.Payload) != string(payload) {
		t.Fatalf("unwrapped %+v %v", pkt.Header, pkt.Payload)
	}
	for _, short := range [][]byte{nil, {1}, {1, 2}} {
		if unwrapRTX(&rtp.Packet{Payload: short}, 96, 42) {
			t.Fatalf("unwrapped a %d-byte RTX payload (a probe)", len(short))
		}
	}
}
