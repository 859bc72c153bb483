package netbench

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// cameraEnv passes the fake camera's file to a browser role.
const cameraEnv = "TANDEM_NETBENCH_CAMERA"

// writeCamera writes the fake camera both browsers show: one second of
// 640x480 frames at 24 fps, each of fresh noise over a grey gradient, which
// Chromium loops. A call's encoder wants its full rate for that (about
// 1.7 Mbit/s at this size), as for a real camera in a busy room; Chromium's
// own test pattern compresses to a few hundred kbit/s and would never meet a
// 600 kbit/s cap.
func writeCamera(t *testing.T) string {
	t.Helper()
	const w, h, frames = 640, 480, 24
	path := filepath.Join(t.TempDir(), "camera.y4m")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	out := bufio.NewWriter(f)
	fmt.Fprintf(out, "YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg\n", w, h, frames)
	rng := rand.New(rand.NewPCG(1, 2))
	for range frames {
		out.WriteString("FRAME\n")
		for y := range h {
			for x := range w {
				out.WriteByte(byte(40 + (x+y)*120/(w+h) + rng.IntN(64)))
			}
		}
		for range w * h / 2 { // U and V planes, a quarter each
			out.WriteByte(byte(112 + rng.IntN(32)))
		}
	}
	if err := out.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
