package netbench

import (
	"fmt"
	"slices"
	"strings"
)

// sample is one getStats reading of a page (see probeJS's sample).
type sample struct {
	At float64 `json:"at"` // ms
	In *struct {
		FramesDecoded        float64 `json:"framesDecoded"`
		FreezeCount          float64 `json:"freezeCount"`
		TotalFreezesDuration float64 `json:"totalFreezesDuration"`
		PacketsLost          float64 `json:"packetsLost"`
		PacketsReceived      float64 `json:"packetsReceived"`
		NACKCount            float64 `json:"nackCount"`
		KeyFramesDecoded     float64 `json:"keyFramesDecoded"`
		FrameHeight          float64 `json:"frameHeight"`
	} `json:"in"`
	Out *struct {
		BytesSent               float64 `json:"bytesSent"`
		QualityLimitationReason string  `json:"qualityLimitationReason"`
		FrameHeight             float64 `json:"frameHeight"`
	} `json:"out"`
}

// row is one measured call: the sender's and the receiver's samples, one a
// second, and what summarise makes of them.
type row struct {
	condition, mode string
	sent, received  []sample
	firstFrame      bool // the receiver decoded a frame within firstFrameLimit of connecting

	fps        float64 // the receiver's decoded frames per second, median over the seconds
	freezes    float64 // the receiver's freezeCount over the call
	frozen     float64 // seconds of freezes
	lostPct    float64 // video packets lost on the way to the receiver, percent
	nacks      float64 // NACKs the receiver sent
	keyframes  float64 // keyframes the receiver decoded
	kbps       float64 // the sender's video bitrate, mean over the last two thirds
	underCap   string  // seconds until the sender's bitrate stayed under the cap ("-": no cap)
	limitation string  // the sender's most frequent qualityLimitationReason
}

// summarise computes the row's figures from its samples; capKbps is the
// condition's bandwidth cap (0: none).
func (r *row) summarise(capKbps int) {
	first, last := r.received[0].In, r.received[len(r.received)-1].In
	if first != nil && last != nil {
		r.freezes = last.FreezeCount - first.FreezeCount
		r.frozen = last.TotalFreezesDuration - first.TotalFreezesDuration
		lost, got := last.PacketsLost-first.PacketsLost, last.PacketsReceived-first.PacketsReceived
		if lost+got > 0 {
			r.lostPct = 100 * lost / (lost + got)
		}
		r.nacks = last.NACKCount - first.NACKCount
		r.keyframes = last.KeyFramesDecoded - first.KeyFramesDecoded
	}
	var fps []float64
	for i := 1; i < len(r.received); i++ {
		a, b := r.received[i-1], r.received[i]
		if a.In != nil && b.In != nil && b.At > a.At {
			fps = append(fps, (b.In.FramesDecoded-a.In.FramesDecoded)*1000/(b.At-a.At))
		}
	}
	r.fps = median(fps)

	kbps := make([]float64, 0, len(r.sent))
	reasons := map[string]int{}
	for i := 1; i < len(r.sent); i++ {
		a, b := r.sent[i-1], r.sent[i]
		if a.Out == nil || b.Out == nil || b.At <= a.At {
			continue
		}
		kbps = append(kbps, (b.Out.BytesSent-a.Out.BytesSent)*8/(b.At-a.At))
		reasons[b.Out.QualityLimitationReason]++
	}
	if tail := kbps[len(kbps)/3:]; len(tail) > 0 {
		sum := 0.0
		for _, k := range tail {
			sum += k
		}
		r.kbps = sum / float64(len(tail))
	}
	r.underCap = "-"
	if capKbps > 0 {
		r.underCap = "never"
		for i := len(kbps); i > 0 && kbps[i-1] <= float64(capKbps); i-- {
			r.underCap = fmt.Sprintf("%d s", i-1)
		}
	}
	best := 0
	for reason, n := range reasons {
		if n > best || (n == best && reason < r.limitation) {
			r.limitation, best = reason, n
		}
	}
}

func (r row) String() string {
	mode := r.mode
	if !r.firstFrame {
		mode += fmt.Sprintf(" (no frame within %v of connecting)", firstFrameLimit)
	}
	return fmt.Sprintf("| %s | %s | %.0f | %.0f / %.1f s | %.1f %% | %.0f | %.0f | %.0f | %s | %s |",
		r.condition, mode, r.fps, r.freezes, r.frozen, r.lostPct, r.nacks, r.keyframes, r.kbps, r.underCap, r.limitation)
}

// table formats the rows as the Markdown table docs/performance.md records.
func table(rows []row, seconds int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d s of getStats a call, sampled each second (sender: camera 640x480; receiver: the other browser)\n\n", seconds)
	b.WriteString("| condition | call | receiver fps (median) | freezes / frozen | video lost | NACKs | keyframes | sender kbit/s (last 2/3) | sender under the cap after | sender limited by |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
