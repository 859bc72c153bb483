package nextbench

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// colours are the fake cameras' colours in BT.601 full-range Y'CbCr (as
// Chromium's Y4M reader expects), by the name the page's colour test gives.
var colours = map[string][3]byte{
	"red":   {76, 85, 255},
	"green": {150, 44, 21},
	"blue":  {29, 255, 107},
}

// writeCamera writes a fake camera for Chromium's
// --use-file-for-fake-video-capture: one second of 640x480 frames at 30 fps
// in one colour, with fresh noise in every frame so the encoder works as for
// a real camera (keyframes of tens of kilobytes, not a few hundred bytes).
func writeCamera(t *testing.T, colour string) string {
	t.Helper()
	const w, h, fps = 640, 480, 30
	c, ok := colours[colour]
	if !ok {
		t.Fatalf("no camera colour %q", colour)
	}
	path := filepath.Join(t.TempDir(), colour+".y4m")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	out := bufio.NewWriter(f)
	fmt.Fprintf(out, "YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg\n", w, h, fps)
	rng := rand.New(rand.NewPCG(uint64(c[0]), uint64(c[1])))
	for range fps {
		out.WriteString("FRAME\n")
		for range w * h {
			out.WriteByte(byte(int(c[0]) + rng.IntN(9) - 4))
		}
		for _, v := range []byte{c[1], c[2]} {
			for range w * h / 4 {
				out.WriteByte(v)
			}
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
