package sfu

import "testing"

// vp8Packet builds a payload with a 15-bit picture ID and a TL0PICIDX.
func vp8Packet(pic uint16, tl0 uint8) []byte {
	return []byte{0x90, 0xc0, 0x80 | byte(pic>>8), byte(pic), tl0, 0x51, 0, 0}
}

func TestVP8MungerContinuesPictureIDsAcrossSwitches(t *testing.T) {
	var m vp8Munger
	// First source: pictures 100..102, TL0 7..9.
	for i := range uint16(3) {
		p := vp8Packet(100+i, uint8(7+i))
		if i == 0 {
			m.switchSource(p)
		}
		m.rewrite(p)
		if got := readPic(p, 2, 2); got != 100+i {
			t.Fatalf("first source picture %d became %d", 100+i, got)
		}
	}
	// Second source near the 15-bit wrap, TL0 near the 8-bit wrap.
	wantPic, wantTL0 := uint16(103), uint8(10)
	for i := range uint16(4) {
		p := vp8Packet((0x7ffe+i)&0x7fff, uint8(254+i))
		if i == 0 {
			m.switchSource(p)
		}
		m.rewrite(p)
		if got := readPic(p, 2, 2); got != wantPic+i {
			t.Fatalf("second source packet %d: picture %d, want %d", i, got, wantPic+i)
		}
		if got := p[4]; got != wantTL0+uint8(i) {
			t.Fatalf("second source packet %d: TL0PICIDX %d, want %d", i, got, wantTL0+uint8(i))
		}
		if p[2]&0x80 == 0 {
			t.Fatal("15-bit marker lost")
		}
	}
	// A reordered older packet does not move the newest picture back.
	p := vp8Packet(0x7ffe, 254)
	m.rewrite(p)
	if m.lastPic != 106 {
		t.Fatalf("lastPic %d after a late packet, want 106", m.lastPic)
	}
	// A third source with 7-bit picture IDs continues modulo 128.
	p = []byte{0x90, 0x80, 0x05, 0x51, 0, 0}
	m.switchSource(p)
	m.rewrite(p)
	if got := readPic(p, 2, 1); got != 107&0x7f {
		t.Fatalf("7-bit picture %d, want %d", got, 107&0x7f)
	}
}

func TestVP8MungerLeavesOtherPayloadsAlone(t *testing.T) {
	var m vp8Munger
	for _, p := range [][]byte{{0x10, 0x50}, {0x90}, {0x90, 0x80}, {}} {
		orig := append([]byte(nil), p...)
		m.switchSource(p)
		m.rewrite(p)
		if string(p) != string(orig) {
			t.Fatalf("payload % x changed to % x", orig, p)
		}
	}
}
