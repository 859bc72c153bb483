package sfu

import "testing"

// vp8Key is a VP8 keyframe payload header: frame tag with P=0, start code, 640x480.
var vp8Key = []byte{0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}

// vp8Inter is an interframe payload header (P=1).
var vp8Inter = []byte{0x51, 0x42, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestVP8KeyframeDetection(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    bool
	}{
		{"minimal descriptor, keyframe", cat([]byte{0x10}, vp8Key), true},
		{"minimal descriptor, interframe", cat([]byte{0x10}, vp8Inter), false},
		{"15-bit picture id, keyframe", cat([]byte{0x90, 0x80, 0x81, 0x23}, vp8Key), true},
		{"7-bit picture id, keyframe", cat([]byte{0x90, 0x80, 0x23}, vp8Key), true},
		{"picture id, tl0picidx, tid, keyframe", cat([]byte{0x90, 0xe0, 0x81, 0x23, 0x05, 0x40}, vp8Key), true},
		{"picture id, tl0picidx, tid, interframe", cat([]byte{0x90, 0xe0, 0x81, 0x23, 0x05, 0x40}, vp8Inter), false},
		{"keyidx only, keyframe", cat([]byte{0x90, 0x10, 0x03}, vp8Key), true},
		{"not the start of a partition", cat([]byte{0x00}, vp8Key), false},
		{"start of partition 1", cat([]byte{0x11}, vp8Key), false},
		{"keyframe tag without start code", cat([]byte{0x10}, []byte{0x50, 0x42, 0x00, 0x00, 0x00, 0x00, 0, 0, 0, 0}), false},
		{"truncated after descriptor", []byte{0x90, 0x80}, false},
		{"truncated payload header", cat([]byte{0x10}, vp8Key[:5]), false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isVP8Keyframe(tt.payload); got != tt.want {
				t.Fatalf("isVP8Keyframe(% x) = %v, want %v", tt.payload, got, tt.want)
			}
		})
	}
}

func TestH264KeyframeDetection(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    bool
	}{
		{"single IDR", []byte{0x65, 0x88, 0x84}, true},
		{"single SPS", []byte{0x67, 0x42, 0xe0, 0x1f}, true},
		{"single non-IDR slice", []byte{0x41, 0x9a, 0x00}, false},
		{"STAP-A SPS PPS", []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, true},
		{"STAP-A PPS then IDR", []byte{0x78, 0x00, 0x02, 0x68, 0xce, 0x00, 0x02, 0x65, 0x88}, true},
		{"STAP-A without keyframe", []byte{0x78, 0x00, 0x02, 0x68, 0xce, 0x00, 0x02, 0x41, 0x9a}, false},
		{"STAP-A truncated", []byte{0x78, 0x00, 0x09, 0x65}, false},
		{"FU-A start of IDR", []byte{0x7c, 0x85, 0x88}, true},
		{"FU-A middle of IDR", []byte{0x7c, 0x05, 0x88}, false},
		{"FU-A start of non-IDR", []byte{0x7c, 0x81, 0x9a}, false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isH264Keyframe(tt.payload); got != tt.want {
				t.Fatalf("isH264Keyframe(% x) = %v, want %v", tt.payload, got, tt.want)
			}
		})
	}
}
