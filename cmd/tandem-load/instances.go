package main

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Several instances of a cluster: -url names each instance's WebSocket URL (repeated or
// comma-separated) and users are spread over them round robin, user i (from 0) on instance
// i mod n. The users connect in pairs, the next pair once this one has met (waitPaired), so
// the two users of each first pairing are consecutive and sit on different instances: with
// two or more URLs every first pair is bridged. With -spread pairs it is the pairs that
// are spread round robin, pair k (users 2k+1 and 2k+2) on instance k mod n: every first pair
// is local, and the instances carry the same load as in a bridged run. After a Next the
// queue pairs whoever waits, on either instance, so with -next some pairs become local; the
// tool counts, from the source every synthetic packet carries, how many packets came from a
// partner on another instance.
//
// -pid names the processes whose CPU is measured (repeated or comma-separated), e.g. every
// instance of the cluster also when all users are on one of them.

// stringList is a flag that takes several values, repeated or comma-separated.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

// Set adds the comma-separated values of one occurrence of the flag.
func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// intList is a flag of several positive integers, repeated or comma-separated.
type intList []int

func (l *intList) String() string {
	s := make([]string, len(*l))
	for i, n := range *l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// Set adds the comma-separated values of one occurrence of the flag.
func (l *intList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a process id", s)
		}
		*l = append(*l, n)
	}
	return nil
}

// spread is how the users are placed over n instances: user by user (partners apart) or,
// byPair, pair by pair (partners together).
type spread struct {
	n      int
	byPair bool
}

// instanceOf is the index of the instance (in -url's order) that holds the user with the
// given id (ids count from 1).
func (s spread) instanceOf(id uint32) int {
	if s.n <= 1 || id == 0 {
		return 0
	}
	if s.byPair {
		return int((id - 1) / 2 % uint32(s.n))
	}
	return int((id - 1) % uint32(s.n))
}

// statsURLs maps each instance's WebSocket URL to its /api/stats.
func statsURLs(wsURLs []string) ([]string, error) {
	out := make([]string, len(wsURLs))
	for i, u := range wsURLs {
		s, err := apiURL(u, "/api/stats")
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// forwardedCounts reads every instance's forwarded-packet counter; ok is false if any
// instance does not publish it. A packet bridged between instances counts on both: the
// sending instance forwards it into the bridge, the receiving one to its client.
func forwardedCounts(client *http.Client, urls []string) (counts []uint64, ok bool) {
	counts = make([]uint64, len(urls))
	for i, u := range urls {
		n, ok := serverForwarded(client, u)
		if !ok {
			return nil, false
		}
		counts[i] = n
	}
	return counts, true
}

// sampleProcs samples every process in pids.
func sampleProcs(pids []int) ([]procSample, error) {
	out := make([]procSample, len(pids))
	for i, pid := range pids {
		s, err := sampleProc(pid)
		if err != nil {
			return nil, fmt.Errorf("process %d: %w", pid, err)
		}
		out[i] = s
	}
	return out, nil
}

// cpuUse is the CPU the measured processes spent over a run, and how often they switched.
type cpuUse struct {
	cpu, sys time.Duration // summed over the processes; sys is the kernel's part
	each     []time.Duration
	switches uint64 // context switches, summed over the processes (a lower bound: see threadSwitches)
}

// cpuBetween sums the CPU the processes spent between two samples of the same pids.
func cpuBetween(before, after []procSample) cpuUse {
	u := cpuUse{each: make([]time.Duration, len(after))}
	for i := range after {
		u.each[i] = after[i].cpu - before[i].cpu
		u.cpu += u.each[i]
		u.sys += after[i].sys - before[i].sys
		if after[i].switches > before[i].switches { // a thread that ended took its count along
			u.switches += after[i].switches - before[i].switches
		}
	}
	return u
}

// perPacket is the CPU per packet, and its kernel part, in microseconds.
func (u cpuUse) perPacket(packets uint64) (total, kernel float64) {
	if packets == 0 {
		return 0, 0
	}
	return float64(u.cpu.Microseconds()) / float64(packets), float64(u.sys.Microseconds()) / float64(packets)
}
