package main

import (
	"context"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/tandemchat/tandem/sfu/synth"
)

func TestListFlagsTakeRepeatedAndCommaSeparatedValues(t *testing.T) {
	var urls stringList
	var pids intList
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&urls, "url", "")
	fs.Var(&pids, "pid", "")
	err := fs.Parse([]string{"-url", "ws://a/ws, ws://b/ws", "-url", "ws://c/ws", "-pid", "7,8", "-pid", "9"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ws://a/ws", "ws://b/ws", "ws://c/ws"}; !slices.Equal(urls, want) {
		t.Fatalf("urls %q, want %q", urls, want)
	}
	if want := []int{7, 8, 9}; !slices.Equal(pids, want) {
		t.Fatalf("pids %v, want %v", pids, want)
	}
	if pids.String() != "7,8,9" || urls.String() != "ws://a/ws,ws://b/ws,ws://c/ws" {
		t.Fatalf("String: %q, %q", pids.String(), urls.String())
	}
	for _, bad := range []string{"x", "0", "-3", "1,two"} {
		if err := fs.Parse([]string{"-pid", bad}); err == nil {
			t.Errorf("-pid %q accepted", bad)
		}
	}
}

// TestUsersSpreadRoundRobinWithFirstPartnersApart checks the assignment the bridged runs rely
// on: with several instances, users 2k+1 and 2k+2 (who connect one after the other and so
// become partners) are never on the same instance, and each instance gets its share; spread
// by pair, the two are always on one instance, and each instance gets its share too.
func TestUsersSpreadRoundRobinWithFirstPartnersApart(t *testing.T) {
	for _, n := range []int{2, 3, 4} {
		for _, byPair := range []bool{false, true} {
			sp := spread{n: n, byPair: byPair}
			count := make([]int, n)
			for id := uint32(1); id <= 80; id++ {
				count[sp.instanceOf(id)]++
				if id%2 == 0 && (sp.instanceOf(id) == sp.instanceOf(id-1)) != byPair {
					t.Errorf("%+v: users %d and %d on instances %d and %d", sp, id-1, id, sp.instanceOf(id-1), sp.instanceOf(id))
				}
			}
			for i, c := range count {
				if c < 80/n-1 || c > 80/n+2 {
					t.Errorf("%+v: instance %d holds %d of 80 users", sp, i, c)
				}
			}
		}
	}
	for id := uint32(0); id <= 5; id++ {
		if (spread{n: 1}).instanceOf(id) != 0 || (spread{n: 1, byPair: true}).instanceOf(id) != 0 {
			t.Fatalf("one instance: user %d not on it", id)
		}
	}
}

func TestPacketsFromAPartnerOnAnotherInstanceCountAsBridged(t *testing.T) {
	res := &results{}
	u := &user{id: 3, spread: spread{n: 2}, res: res} // instance 0
	for _, src := range []uint32{4, 6, 5, 0} {        // instance 1, 1, 0, unknown
		u.onPacket(synth.Packet{Kind: webrtc.RTPCodecTypeAudio, Source: src})
	}
	if res.packets.Load() != 4 || res.bridged.Load() != 2 {
		t.Fatalf("%d packets, %d bridged; want 4 and 2", res.packets.Load(), res.bridged.Load())
	}
	together := &user{id: 3, spread: spread{n: 2, byPair: true}, res: &results{}}
	together.onPacket(synth.Packet{Kind: webrtc.RTPCodecTypeAudio, Source: 4}) // its partner, on its instance
	if together.res.bridged.Load() != 0 {
		t.Fatal("a packet from a partner on the same instance counted as bridged")
	}
	alone := &user{id: 3, spread: spread{n: 1}, res: &results{}}
	alone.onPacket(synth.Packet{Kind: webrtc.RTPCodecTypeAudio, Source: 4})
	if alone.res.bridged.Load() != 0 {
		t.Fatal("a packet counted as bridged with one instance")
	}
}

func TestCPUPerPacketSumsTheProcesses(t *testing.T) {
	before := []procSample{{cpu: time.Second, sys: 200 * time.Millisecond, switches: 50}, {cpu: 0}, {switches: 90}}
	after := []procSample{{cpu: 3 * time.Second, sys: 1200 * time.Millisecond, switches: 80}, {cpu: time.Second, sys: 500 * time.Millisecond, switches: 7},
		{switches: 60}} // a thread ended: the sum shrank, and counts none rather than wrapping around
	use := cpuBetween(before, after)
	if use.cpu != 3*time.Second || use.sys != 1500*time.Millisecond || !slices.Equal(use.each, []time.Duration{2 * time.Second, time.Second, 0}) || use.switches != 37 {
		t.Fatalf("use %+v", use)
	}
	if total, kernel := use.perPacket(100_000); total != 30 || kernel != 15 {
		t.Fatalf("per packet %.1f µs (kernel %.1f), want 30 (15)", total, kernel)
	}
	if total, _ := use.perPacket(0); total != 0 {
		t.Fatalf("per packet of no packets: %.1f", total)
	}
}

// TestReportDividesByEachCount checks both divisors of a bridged run: the servers' counters,
// on which every bridged packet counts twice, and the clients' count.
func TestReportDividesByEachCount(t *testing.T) {
	m := measured{elapsed: 10 * time.Second, received: 100_000, bridged: 75_000,
		forwarded: []uint64{100_000, 100_000},
		cpu:       cpuUse{cpu: 4 * time.Second, sys: time.Second, each: []time.Duration{3 * time.Second, time.Second}, switches: 25_000}}
	var out strings.Builder
	m.print(&out, true)
	for _, want := range []string{
		"received packets/s (all clients): 10000, 75.0 % of them from a partner on another instance",
		"counts on both): 10000 + 10000 = 20000",
		"server CPU per forwarded packet: 20.0 µs, 5.0 µs of it in the kernel (0.40 CPU cores)",
		"server CPU per packet received by a client: 40.0 µs, 10.0 µs of it in the kernel (cores per process: 0.30 + 0.10)",
		"server context switches per 1000 packets received by a client: 250\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	m.forwarded, m.cpu = []uint64{50_000}, cpuUse{}
	m.print(&out, false)
	if strings.Contains(out.String(), "another instance") || !strings.Contains(out.String(), "forwarded packets/s (server):     5000\n") ||
		strings.Contains(out.String(), "CPU") || strings.Contains(out.String(), "switches") {
		t.Errorf("one server, no -pid:\n%s", out.String())
	}
}

func TestWaitPairedWaitsForBothUsersFirstPartner(t *testing.T) {
	newUser := func(id uint32) *user {
		return &user{id: id, res: &results{}, firstPartner: make(chan struct{})}
	}
	a, b := newUser(1), newUser(2)
	a.handle(message{Type: "partner_found"})
	if waitPaired(context.Background(), a, b, 50*time.Millisecond) {
		t.Fatal("paired while b has had no partner")
	}
	done := make(chan bool)
	go func() { done <- waitPaired(context.Background(), a, b, 10*time.Second) }()
	b.handle(message{Type: "partner_found"})
	b.handle(message{Type: "partner_found"}) // a second partner later changes nothing
	if !<-done {
		t.Fatal("not paired once both had a partner")
	}
}
