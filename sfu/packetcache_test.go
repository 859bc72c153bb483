package sfu

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestPacketCacheKeepsTheLastPackets(t *testing.T) {
	var c packetCache
	buf := make([]byte, maxCachedPayload)
	var h rtp.Header
	if _, ok := c.load(1, 1, resendInterval, &h, buf); ok != notCached {
		t.Fatal("empty cache returned a packet")
	}
	for i := range 300 {
		seq := uint16(65500 + i) // wraps
		c.store(&rtp.Header{SequenceNumber: seq, Timestamp: uint32(i), CSRC: []uint32{7}}, []byte{byte(i), 1, 2})
	}
	newest := uint16(65500 + 299 - 65536)
	payload, ok := c.load(newest, 1, resendInterval, &h, buf)
	if ok != loaded || h.SequenceNumber != newest || h.Timestamp != 299 || !bytes.Equal(payload, []byte{byte(299 % 256), 1, 2}) {
		t.Fatalf("newest packet: ok %v header %+v payload % x", ok, h, payload)
	}
	if h.CSRC != nil {
		t.Fatal("cached header shares the caller's CSRC slice")
	}
	if _, ok := c.load(newest-packetCacheSize+1, 1, resendInterval, &h, buf); ok != loaded {
		t.Fatal("oldest packet still in the window is missing")
	}
	if _, ok := c.load(newest-packetCacheSize, 1, resendInterval, &h, buf); ok != notCached {
		t.Fatal("packet older than the window was returned (slot reused)")
	}
	c.store(&rtp.Header{SequenceNumber: 5}, make([]byte, maxCachedPayload+1))
	if _, ok := c.load(5, 1, resendInterval, &h, buf); ok != notCached {
		t.Fatal("oversized payload was cached")
	}
}

func TestPacketCacheResendsAPacketOncePerInterval(t *testing.T) {
	var c packetCache
	buf := make([]byte, maxCachedPayload)
	var h rtp.Header
	c.store(&rtp.Header{SequenceNumber: 9}, []byte{1, 2, 3})
	now := 5 * time.Second
	if _, r := c.load(9, now, resendInterval, &h, buf); r != loaded {
		t.Fatalf("first request: %v, want loaded", r)
	}
	if _, r := c.load(9, now+resendInterval-1, resendInterval, &h, buf); r != duplicate {
		t.Fatalf("request within the interval: %v, want duplicate", r)
	}
	if _, r := c.load(9, now+resendInterval, resendInterval, &h, buf); r != loaded {
		t.Fatalf("request after the interval: %v, want loaded", r)
	}
	c.store(&rtp.Header{SequenceNumber: 9 + packetCacheSize}, []byte{4})
	if _, r := c.load(9+packetCacheSize, now+resendInterval+1, resendInterval, &h, buf); r != loaded {
		t.Fatalf("new packet in a reused slot: %v, want loaded (the slot's resend time is reset)", r)
	}
}

func TestPacketCacheRefusesResendsBeyondItsCredit(t *testing.T) {
	var c packetCache
	buf := make([]byte, maxCachedPayload)
	var h rtp.Header
	payload := make([]byte, 1000)
	for seq := range uint16(packetCacheSize) {
		c.store(&rtp.Header{SequenceNumber: seq}, payload)
	}
	// The burst allows maxRetransmitCredit bytes; every resend here is a different packet.
	want := maxRetransmitCredit / len(payload)
	got := 0
	for seq := range uint16(packetCacheSize) {
		switch _, r := c.load(seq, time.Second, resendInterval, &h, buf); r {
		case loaded:
			got++
		case overBudget:
		default:
			t.Fatalf("seq %d: %v", seq, r)
		}
	}
	if got != want {
		t.Fatalf("resent %d packets of %d bytes, want %d (the burst credit)", got, len(payload), want)
	}
	// Forwarding earns credit again: two more packets stored pay for one resend.
	c.store(&rtp.Header{SequenceNumber: packetCacheSize}, payload)
	c.store(&rtp.Header{SequenceNumber: packetCacheSize + 1}, payload)
	if _, r := c.load(packetCacheSize, time.Second, resendInterval, &h, buf); r != loaded {
		t.Fatalf("after earning credit: %v, want loaded", r)
	}
	if _, r := c.load(packetCacheSize+1, time.Second, resendInterval, &h, buf); r != overBudget {
		t.Fatalf("credit spent again: %v, want overBudget", r)
	}
}

func TestResendGapFollowsTheRoundTrip(t *testing.T) {
	for _, c := range []struct {
		rttMs float64
		want  time.Duration
	}{
		{0, resendInterval},         // unknown
		{1, minResendInterval},      // loopback
		{60, 30 * time.Millisecond}, // half of it
		{1000, resendInterval},      // a slow link: never over the old interval
	} {
		if got := resendGap(c.rttMs); got != c.want {
			t.Errorf("resendGap(%v ms) = %v, want %v", c.rttMs, got, c.want)
		}
	}
	// A packet is resent again after the gap, not before.
	var c packetCache
	var h rtp.Header
	buf := make([]byte, maxCachedPayload)
	c.store(&rtp.Header{SequenceNumber: 3}, []byte{1})
	gap := resendGap(20)
	if _, r := c.load(3, time.Second, gap, &h, buf); r != loaded {
		t.Fatalf("first resend: %v", r)
	}
	if _, r := c.load(3, time.Second+gap-1, gap, &h, buf); r != duplicate {
		t.Fatalf("within the gap: %v, want duplicate", r)
	}
	if _, r := c.load(3, time.Second+gap, gap, &h, buf); r != loaded {
		t.Fatalf("after the gap: %v, want loaded (the retransmission was lost)", r)
	}
}
