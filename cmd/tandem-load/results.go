package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// results collects what the users measure. Safe for concurrent use.
type results struct {
	packets atomic.Uint64 // RTP packets received by all users
	bridged atomic.Uint64 // of them, from a partner on another instance
	pairs   atomic.Uint64 // partner_found messages
	errors  atomic.Uint64
	transit transits // send -> receive of every media packet

	mu         sync.Mutex
	switches   []time.Duration // next_partner sent -> first keyframe of the new partner
	signaling  []time.Duration // next_partner sent -> partner_found received
	firstError string
}

func (r *results) addSwitch(d time.Duration) {
	r.mu.Lock()
	r.switches = append(r.switches, d)
	r.mu.Unlock()
}

func (r *results) addSignaling(d time.Duration) {
	r.mu.Lock()
	r.signaling = append(r.signaling, d)
	r.mu.Unlock()
}

func (r *results) noteError(s string) {
	r.mu.Lock()
	if r.firstError == "" {
		r.firstError = s
	}
	r.mu.Unlock()
}

// reset forgets the measurements of the warm-up.
func (r *results) reset() {
	r.mu.Lock()
	r.switches, r.signaling = nil, nil
	r.mu.Unlock()
	r.packets.Store(0)
	r.bridged.Store(0)
	r.transit.reset()
}

// percentile returns the p-th percentile (0..100) of ds, or 0 for none.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// procSample is a server process's CPU time, resident memory and context switches at one
// moment.
type procSample struct {
	cpu      time.Duration // user + system
	sys      time.Duration // system (kernel) part of cpu
	rss      int64         // bytes
	switches uint64        // context switches of all its threads, voluntary or not
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat (100 on Linux).
const clockTicks = 100

// sampleProc reads /proc/PID/stat (utime+stime) and /proc/PID/status (VmRSS).
func sampleProc(pid int) (procSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, fmt.Errorf("read stat: %w", err)
	}
	// Fields after the parenthesised command name; utime and stime are fields 14 and 15.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
	fields := strings.Fields(rest)
	if len(fields) < 13 {
		return procSample{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return procSample{}, fmt.Errorf("parse /proc/%d/stat times", pid)
	}
	s := procSample{
		cpu: time.Duration(utime+stime) * time.Second / clockTicks,
		sys: time.Duration(stime) * time.Second / clockTicks,
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, fmt.Errorf("read status: %w", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rss, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rss), " kB"), 10, 64)
			if err != nil {
				return procSample{}, fmt.Errorf("parse VmRSS %q: %w", rss, err)
			}
			s.rss = kb * 1024
		}
	}
	s.switches, err = threadSwitches(pid)
	return s, err
}

// threadSwitches sums the context switches of pid's threads (voluntary_ctxt_switches and
// nonvoluntary_ctxt_switches in each /proc/PID/task/TID/status): a count of the process's
// wake-ups and preemptions that, unlike its CPU time, the machine's other load does not
// inflate. A thread that ended between listing and reading is skipped, and one that ended
// during a run takes its switches along (the kernel keeps a dead thread's count only for the
// process's own getrusage), so between two samples the sum can shrink: cpuBetween then counts
// none for that process.
func threadSwitches(pid int) (uint64, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, fmt.Errorf("list threads: %w", err)
	}
	var sum uint64
	for _, task := range tasks {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, task.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			name, value, ok := strings.Cut(line, ":")
			if !ok || (name != "voluntary_ctxt_switches" && name != "nonvoluntary_ctxt_switches") {
				continue
			}
			n, err := strconv.ParseUint(strings.TrimSpace(value), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s %q: %w", name, value, err)
			}
			sum += n
		}
	}
	return sum, nil
}

// serverForwarded reads the SFU's forwarded-packet counters from /api/stats (0, false if the
// server does not publish them).
func serverForwarded(client *http.Client, statsURL string) (uint64, bool) {
	resp, err := client.Get(statsURL)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var body struct {
		Media *struct {
			AudioPacketsForwarded uint64
			VideoPacketsForwarded uint64
		} `json:"media"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil || body.Media == nil {
		return 0, false
	}
	return body.Media.AudioPacketsForwarded + body.Media.VideoPacketsForwarded, true
}
