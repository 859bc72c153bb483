package turn

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkRelayVsCoturn pushes the same load, coturn's turnutils_uclient
// with the flags below, through tandem's TURN server (in this process) and
// through coturn's turnserver (a child process), one after the other on
// loopback. Each iteration is one complete uclient run. Metrics:
// echoed-MB/s (payload that went client -> relay -> peer -> relay -> client,
// per second of wall time), lost-% and server-CPU-ms (user+system CPU the
// server spent per run). Run with:
//
//	go test -run '^$' -bench RelayVsCoturn -benchtime 3x ./turn/
//
// TANDEM_TURN_BENCH_ARGS overrides the load flags (space-separated).
func BenchmarkRelayVsCoturn(b *testing.B) {
	skipUnlessBinary(b, "turnutils_uclient", "turnutils_peer", "turnserver")
	load := strings.Fields("-m 10 -n 2000 -l 1000 -z 1 -c -X")
	if env := os.Getenv("TANDEM_TURN_BENCH_ARGS"); env != "" {
		load = strings.Fields(env)
	}
	b.Logf("uclient load: %s", strings.Join(load, " "))
	peer := startTurnutilsPeer(b)

	for _, transport := range []string{"udp", "tcp"} {
		flags := load
		if transport == "tcp" {
			flags = append([]string{"-t"}, load...)
		}
		b.Run("tandem/"+transport, func(b *testing.B) {
			s, err := New(Config{Addr: "127.0.0.1:0", Secret: testSecret, AllowLoopback: true,
				MaxAllocationsPerUser: 1000, AllocationsPerIP: 1000, MediaPorts: anyPort}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			s.ledger.issue("bench") // uclient derives this user's credentials from the secret (-W)
			// The embedded server runs in this process; the harness idles
			// while uclient runs.
			self := os.Getpid()
			benchUclient(b, s.udpAddr.Port, peer.Port, flags, func() time.Duration { return procCPU(b, self) })
		})
		b.Run("coturn/"+transport, func(b *testing.B) {
			addr, pid := startCoturnPID(b, testSecret)
			benchUclient(b, addr.Port, peer.Port, flags, func() time.Duration { return procCPU(b, pid) })
		})
	}
}

// benchUclient runs uclient b.N times against the TURN server on port and
// reports the metrics; cpu reads the server's CPU time so far.
func benchUclient(b *testing.B, port, peerPort int, flags []string, cpu func() time.Duration) {
	args := append([]string{"-p", strconv.Itoa(port), "-e", "127.0.0.1", "-r", strconv.Itoa(peerPort),
		"-u", "bench", "-W", testSecret}, flags...)
	args = append(args, "127.0.0.1")
	var bytes, lostPct float64
	var wall, cpuUsed time.Duration
	b.ResetTimer()
	for range b.N {
		cpu0, t0 := cpu(), time.Now()
		code, out := runUclient(b, args...)
		wall += time.Since(t0)
		cpuUsed += cpu() - cpu0
		if code != 0 {
			b.Fatalf("turnutils_uclient exit %d:\n%s", code, out)
		}
		bytes += lastFloat(b, uclientRecvBytes, out)
		lostPct += lastFloat(b, uclientLost, out)
	}
	b.ReportMetric(bytes/1e6/wall.Seconds(), "echoed-MB/s")
	b.ReportMetric(lostPct/float64(b.N), "lost-%")
	b.ReportMetric(float64(cpuUsed.Milliseconds())/float64(b.N), "server-CPU-ms/op")
}

var (
	uclientRecvBytes = regexp.MustCompile(`tot_recv_bytes ~ (\d+)`)
	uclientLost      = regexp.MustCompile(`Total lost packets \d+ \(([\d.]+)%\)`)
)

func lastFloat(b *testing.B, re *regexp.Regexp, out string) float64 {
	all := re.FindAllStringSubmatch(out, -1)
	if len(all) == 0 {
		b.Fatalf("no %s in uclient output:\n%s", re, out)
	}
	v, err := strconv.ParseFloat(all[len(all)-1][1], 64)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// procCPU is a process's user+system CPU time from /proc/PID/stat; the
// same measure for both servers.
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("read coturn CPU time: %v", err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line, in clock ticks (100 per second).
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
