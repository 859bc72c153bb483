package netbench

import (
	"os"
	"testing"

	"github.com/tandemchat/tandem/internal/browsertest"
	"github.com/tandemchat/tandem/internal/livetest"
)

// TestSenderFollowsAWeakReceiversDownlink is the receiver-aware bitrate's
// behaviour test, where a user would see it: two Chromium instances in
// their own namespaces, the receiver's downlink shaped to 600 kbit/s. The
// sender's browser only measures its own (unshaped) uplink; the server must
// cap it with the receiver's estimate. The bound is generous (the figures,
// frame rate and freezes included, are make netbench's, on a quiet
// machine): the sender ends under the cap, where without the cap it sends
// about 1.7 Mbit/s; and the receiver decoded video.
func TestSenderFollowsAWeakReceiversDownlink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces and tc")
	}
	browsertest.RequireChromium(t)
	const capKbps, seconds = 600, 20
	bin, camera := livetest.BuildTandem(t), writeCamera(t)
	tp := newTopology(t)
	shapeEgress(t, tp.srv, tp.srvToRcv, capKbps)
	r := measure(t, tp, bin, camera, "tandem", seconds)
	r.condition, r.mode = "receiver downlink 600 kbit/s", "tandem"
	r.summarise(capKbps)
	t.Log(r.String())
	if !r.firstFrame {
		t.Fatalf("the receiver decoded no frame within %v", firstFrameLimit)
	}
	if r.kbps > capKbps*1.25 {
		t.Errorf("the sender sent %.0f kbit/s over the last two thirds, over its partner's %d kbit/s downlink", r.kbps, capKbps)
	}
}
