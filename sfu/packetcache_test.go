package sfu

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
)

func TestPacketCacheKeepsTheLastPackets(t *testing.T) {
	var c packetCache
	buf := make([]byte, maxCachedPayload)
	var h rtp.Header
	if _, ok := c.load(1, &h, buf); ok {
		t.Fatal("empty cache returned a packet")
	}
	for i := range 300 {
		seq := uint16(65500 + i) // wraps
		c.store(&rtp.Header{SequenceNumber: seq, Timestamp: uint32(i), CSRC: []uint32{7}}, []byte{byte(i), 1, 2})
	}
	newest := uint16(65500 + 299 - 65536)
	payload, ok := c.load(newest, &h, buf)
	if !ok || h.SequenceNumber != newest || h.Timestamp != 299 || !bytes.Equal(payload, []byte{byte(299 % 256), 1, 2}) {
		t.Fatalf("newest packet: ok %v header %+v payload % x", ok, h, payload)
	}
	if h.CSRC != nil {
		t.Fatal("cached header shares the caller's CSRC slice")
	}
	if _, ok := c.load(newest-packetCacheSize+1, &h, buf); !ok {
		t.Fatal("oldest packet still in the window is missing")
	}
	if _, ok := c.load(newest-packetCacheSize, &h, buf); ok {
		t.Fatal("packet older than the window was returned (slot reused)")
	}
	c.store(&rtp.Header{SequenceNumber: 5}, make([]byte, maxCachedPayload+1))
	if _, ok := c.load(5, &h, buf); ok {
		t.Fatal("oversized payload was cached")
	}
}
