package nextbench

import (
	"fmt"
	"slices"
	"strings"
)

// nextSample is one Next: the page's figures and the server's timeline.
type nextSample struct {
	page      nextResult
	server    switchRecord
	hasServer bool
	pairMs    float64 // the server's Pair, after the press (wall clocks of page and server)
}

// stages are a Next's steps, in ms after the press; NaN when unknown.
func (s nextSample) stages() map[string]float64 {
	p := s.page
	m := map[string]float64{"presented": p.Presented - p.Press, "expected on screen": p.Expected - p.Press}
	opt := func(name string, v *float64) {
		if v != nil && *v > 0 {
			m[name] = *v - p.Press
		}
	}
	opt("partner_found in page", p.Found)
	opt("last packet in page", p.Received)
	if p.Processing != nil {
		m["decode (processingDuration)"] = *p.Processing * 1000
	}
	if s.hasServer {
		m["server: pair"] = s.pairMs
		if s.server.pli >= 0 {
			m["server: pli sent"] = s.pairMs + s.server.pli
		}
		m["server: keyframe received"] = s.pairMs + s.server.keyframeIn
		m["server: keyframe forwarded"] = s.pairMs + s.server.keyframeOut
	}
	// Durations between steps, for attributing the time.
	diff := func(name, from, to string) {
		a, okA := m[from]
		b, okB := m[to]
		if okA && okB {
			m[name] = b - a
		}
	}
	if !s.server.fromCache {
		diff("sender's encoder: pli sent to keyframe received", "server: pli sent", "server: keyframe received")
	}
	diff("to the page: keyframe forwarded to last packet in page", "server: keyframe forwarded", "last packet in page")
	diff("receiving browser: last packet to presented", "last packet in page", "presented")
	return m
}

func (s nextSample) String() string {
	st := s.stages()
	var b strings.Builder
	for _, name := range stageOrder {
		if v, ok := st[name]; ok {
			fmt.Fprintf(&b, "%s %.1f, ", name, v)
		}
	}
	fmt.Fprintf(&b, "other frames %d %v, from cache %v", s.page.Others, s.page.Seen, s.server.fromCache)
	return b.String()
}

// stageOrder is the order the report lists a Next's steps in.
var stageOrder = []string{
	"server: pair", "partner_found in page", "server: pli sent", "server: keyframe received",
	"server: keyframe forwarded", "last packet in page", "decode (processingDuration)", "presented",
	"expected on screen",
	"sender's encoder: pli sent to keyframe received", "to the page: keyframe forwarded to last packet in page",
	"receiving browser: last packet to presented",
}

// report is the printed summary: each step's p50, p90, min and max over the
// Nexts, and the peer-to-peer set-ups'.
func report(name string, nexts []nextSample, p2ps []float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\nNext in a browser, %d switches (ms after the press; the last four rows are durations)\n", name, len(nexts))
	fmt.Fprintf(&b, "| step | p50 | p90 | min | max | n |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, name := range stageOrder {
		var vs []float64
		for _, s := range nexts {
			if v, ok := s.stages()[name]; ok {
				vs = append(vs, v)
			}
		}
		if len(vs) > 0 {
			b.WriteString(row(name, vs))
		}
	}
	fmt.Fprintf(&b, "\nFresh peer-to-peer call, %d set-ups (createOffer to the offerer's first remote frame, ms)\n", len(p2ps))
	fmt.Fprintf(&b, "| step | p50 | p90 | min | max | n |\n| --- | --- | --- | --- | --- | --- |\n")
	b.WriteString(row("first remote frame", p2ps))
	return b.String()
}

func row(name string, vs []float64) string {
	vs = slices.Sorted(slices.Values(vs))
	q := func(p float64) float64 { return vs[int(p*float64(len(vs)-1)+0.5)] }
	return fmt.Sprintf("| %s | %.0f | %.0f | %.0f | %.0f | %d |\n", name, q(0.5), q(0.9), vs[0], vs[len(vs)-1], len(vs))
}
