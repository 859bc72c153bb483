package sfu

import (
	"math"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

const testFloor = 100_000

// at returns a time s seconds into a test's timeline, in unix nanos.
func at(s float64) int64 { return int64(1e15) + int64(s*float64(time.Second)) }

func TestDownlinkPausesUnderTheFloorAndResumesAboveIt(t *testing.T) {
	var l downlink
	if changed, _ := l.update(500_000, at(0), testFloor); changed {
		t.Fatal("an estimate over the floor changed the state")
	}
	if changed, paused := l.update(80_000, at(1), testFloor); !changed || !paused {
		t.Fatalf("under the floor: changed %v paused %v, want a pause", changed, paused)
	}
	// Just over the floor is not enough to resume (hysteresis)...
	if changed, _ := l.update(110_000, at(2), testFloor); changed {
		t.Fatal("resumed at 1.1 times the floor")
	}
	// ...a clear recovery is.
	if changed, paused := l.update(130_000, at(3), testFloor); !changed || paused {
		t.Fatalf("recovered: changed %v paused %v, want a resume", changed, paused)
	}
	// A resume gives a grace period: a dip right after it does not pause again.
	if changed, _ := l.update(80_000, at(4), testFloor); changed {
		t.Fatal("paused again within the grace period")
	}
	if changed, paused := l.update(80_000, at(3+probeGrace.Seconds()), testFloor); !changed || !paused {
		t.Fatal("did not pause once the grace period was over")
	}
}

func TestDownlinkPausesWhenTheGraceEndsOnAnEarlyEstimate(t *testing.T) {
	var l downlink
	l.newPartner(at(0))
	if changed, _ := l.update(50_000, at(0.5), testFloor); changed {
		t.Fatal("paused within a new partner's grace period")
	}
	// No further report: the one under the floor pauses video when the grace ends, however
	// long ago it came.
	if changed, paused := l.tick(at(probeGrace.Seconds()+10), testFloor); !changed || !paused {
		t.Fatal("no pause at the end of the grace period")
	}
	// An estimate from before the last resume does not pause a trial by itself.
	l.tick(at(100), testFloor) // the trial
	if changed, _ := l.tick(at(100+probeGrace.Seconds()+1), testFloor); changed {
		t.Fatal("a trial was ended by an estimate from before it")
	}
}

func TestDownlinkTrialsBackOffWhileTheyFail(t *testing.T) {
	var l downlink
	l.update(50_000, at(0), testFloor) // paused at 0
	now := 0.0
	for _, want := range []time.Duration{4, 8, 16, 32, 32} {
		want *= time.Second
		if changed, _ := l.tick(at(now+want.Seconds()-0.5), testFloor); changed {
			t.Fatalf("trial before the pause's %s", want)
		}
		now += want.Seconds()
		if changed, paused := l.tick(at(now), testFloor); !changed || paused {
			t.Fatalf("no trial after a pause of %s", want)
		}
		if got := l.capFor(at(now), testFloor); got != testFloor {
			t.Fatalf("cap during a trial %d, want the floor %d (the estimate is under it)", got, testFloor)
		}
		// The trial fails: the estimate stays under the floor past the grace period.
		now += probeGrace.Seconds()
		l.update(60_000, at(now-0.1), testFloor)
		if changed, paused := l.tick(at(now), testFloor); !changed || !paused {
			t.Fatalf("a failed trial after a pause of %s did not pause again", want)
		}
	}
}

func TestDownlinkCap(t *testing.T) {
	var l downlink
	if got := l.capFor(at(0), testFloor); got != uncapped {
		t.Fatalf("cap without an estimate %d, want uncapped", got)
	}
	l.update(700_000, at(0), testFloor)
	if got := l.capFor(at(1), testFloor); got != 700_000 {
		t.Fatalf("cap %d, want the estimate", got)
	}
	if got := l.capFor(at(estimateTTL.Seconds()+1), testFloor); got != uncapped {
		t.Fatalf("cap from a stale estimate %d, want uncapped", got)
	}
	l.update(50_000, at(10), testFloor)
	if got := l.capFor(at(10), testFloor); got != testFloor {
		t.Fatalf("cap while paused %d, want the floor", got)
	}
	l.newPartner(at(11))
	if l.paused.Load() {
		t.Fatal("still paused for a new partner")
	}
	if got := l.capFor(at(11), testFloor); got != testFloor {
		t.Fatalf("cap for a new partner's start %d, want at least the floor", got)
	}
}

func TestDownlinkWithoutAFloorNeverPauses(t *testing.T) {
	var l downlink
	if changed, _ := l.update(1_000, at(0), -1); changed {
		t.Fatal("paused with the floor off")
	}
	if changed, _ := l.tick(at(60), -1); changed {
		t.Fatal("tick changed the state with the floor off")
	}
}

func TestAbsSendTime(t *testing.T) {
	for _, c := range []struct {
		now  int64
		want uint32
	}{
		{0, 0},
		{int64(time.Second), 1 << 18},
		{int64(1500 * time.Millisecond), 1<<18 | 1<<17},
		{int64(64 * time.Second), 0}, // 6 bits of seconds: wraps every 64 s
		{int64(63*time.Second + 999_999_999), 0xffffff},
	} {
		if got := absSendTime(c.now); got != c.want {
			t.Errorf("absSendTime(%d) = %#x, want %#x", c.now, got, c.want)
		}
	}
}

func TestInvalidEstimatesAreIgnored(t *testing.T) {
	rx := newTestReceiver(t)
	p := rx.peer
	for _, bps := range []float32{float32(math.NaN()), -5, 0, float32(math.Inf(-1))} {
		p.handleREMB(&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: bps})
	}
	if p.sfu.counters.rembsReceived.Load() != 0 || p.VideoPaused() || p.downlink.estimate != 0 {
		t.Fatalf("an invalid estimate was taken: %d counted, paused %v, estimate %d",
			p.sfu.counters.rembsReceived.Load(), p.VideoPaused(), p.downlink.estimate)
	}
	p.handleREMB(&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(math.Inf(1))})
	if p.downlink.estimate != uncapped {
		t.Fatalf("an infinite estimate became %d, want %d", p.downlink.estimate, int64(uncapped))
	}
}
