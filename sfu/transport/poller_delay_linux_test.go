//go:build linux

package transport

import (
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// steadyEnv names, for TestSteadySenderProcess, the addresses to send a call's media to.
const steadyEnv = "TANDEM_TEST_STEADY_TARGETS"

// The media one simulated client sends, as cmd/tandem-load's clients do: a 1.5 Mbit/s video
// frame every 1/30 s in packets of at most 1,112 bytes, sent back to back, and an 80-byte
// audio packet every 20 ms.
const (
	steadyFrameBytes = 1_500_000 / 8 / 30
	steadyMaxPacket  = 1100 + 12
	steadyAudioBytes = 80 + 12
)

// forwardCost is about the CPU the server spends on the poller's goroutine per forwarded
// packet with 40 pairs (docs/performance.md: 18.5 µs, decrypt, encrypt and sendto), which the
// benchmark's taker spends spinning, so a packet waits behind the work of those read before it
// in the same poll as it would in the server.
const forwardCost = 15 * time.Microsecond

// TestSteadySenderProcess is not a test: it is the body of the process startSteadySenders
// runs, which sends one client's media to each address in steadyEnv, each client at its own
// phase, until its parent closes its standard input.
func TestSteadySenderProcess(t *testing.T) {
	targets := os.Getenv(steadyEnv)
	if targets == "" {
		t.Skip("runs only as the sender of BenchmarkPollerDelaySteady")
	}
	allowEveryCPU() // the benchmark may be pinned to one core: the clients are elsewhere
	var wg sync.WaitGroup
	var stop atomic.Bool
	list := strings.Split(targets, ",")
	for i, target := range list {
		to := netip.MustParseAddrPort(target)
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			time.Sleep(time.Duration(i) * time.Second / 30 / time.Duration(len(list))) // spread phases
			sendSteadily(conn, to, &stop)
		}()
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it, or exits
	stop.Store(true)
	wg.Wait()
}

// sendSteadily sends one client's video and audio to `to` until stop is set.
func sendSteadily(conn *net.UDPConn, to netip.AddrPort, stop *atomic.Bool) {
	video := time.NewTicker(time.Second / 30)
	defer video.Stop()
	audio := time.NewTicker(20 * time.Millisecond)
	defer audio.Stop()
	buf := make([]byte, steadyMaxPacket)
	buf[0] = 0x80 // RTP's version bits: not junk that a poller would drop before its taker
	send := func(size int) { _, _ = conn.WriteToUDPAddrPort(buf[:size], to) }
	for !stop.Load() {
		select {
		case <-audio.C:
			send(steadyAudioBytes)
		case <-video.C:
			for left := steadyFrameBytes; left > 0; left -= steadyMaxPacket - 12 {
				send(min(left, steadyMaxPacket-12) + 12)
			}
		}
	}
}

// allowEveryCPU lets the calling process run on any CPU, whatever affinity it inherited.
func allowEveryCPU() {
	var mask [16]uint64
	for i := range mask {
		mask[i] = ^uint64(0)
	}
	_, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(mask),
		uintptr(unsafe.Pointer(&mask[0])))
}

// startSteadySenders starts a process that sends a client's media to each of targets, and
// returns a function that stops it.
func startSteadySenders(b *testing.B, targets []*polledConn) func() {
	return startSender(b, "TestSteadySenderProcess", steadyEnv, targets)
}

// delayLog records the delays its sockets' takers measure; record switches the recording on
// and off.
type delayLog struct {
	record atomic.Bool
	mu     sync.Mutex
	delays []time.Duration
}

// stampTaker is the packetTaker of one socket of delayLog: it records how long ago the kernel
// received the datagram just read from fd (SIOCGSTAMPNS: the receive time of the socket's last
// datagram, so the sender's own scheduling is not counted), then spends forwardCost as the SFU
// would. It runs on the poller's goroutine.
type stampTaker struct {
	log *delayLog
	fd  atomic.Int32 // set once the socket is open
}

// siocgstampns is SIOCGSTAMPNS of linux/sockios.h.
const siocgstampns = 0x8907

func (t *stampTaker) takeFrom([]byte, netip.AddrPort, *scratch) bool {
	now := time.Now()
	var ts syscall.Timespec
	_, _, errno := syscall.RawSyscall(syscall.SYS_IOCTL, uintptr(t.fd.Load()), siocgstampns, uintptr(unsafe.Pointer(&ts)))
	if errno == 0 && t.log.record.Load() { // the first datagram has no stamp: it turns stamping on
		t.log.mu.Lock()
		t.log.delays = append(t.log.delays, now.Sub(time.Unix(ts.Unix())))
		t.log.mu.Unlock()
	}
	for time.Since(now) < forwardCost {
	}
	return true
}

// BenchmarkPollerDelaySteady reports how long media waits between its arrival in the kernel
// and the poller handing it to the fast path (p50 and p99 in microseconds) under a call's steady traffic: 2
// clients (one pair, about 460 packets/s) or 80 (40 pairs, about 18,400 packets/s), each on a
// socket of one poller, sending from a process of their own. It also reports the benchmark
// process's CPU per packet (forwardCost of it is the taker's spinning) and how often the
// poller polled. Run it as the server runs in docs/performance.md:
//
//	GOMAXPROCS=1 taskset -c 0 go test -run '^$' -bench PollerDelaySteady ./sfu/transport
func BenchmarkPollerDelaySteady(b *testing.B) {
	for _, pairs := range []int{1, 40} {
		b.Run(map[int]string{1: "1pair", 40: "40pairs"}[pairs], func(b *testing.B) {
			steadyDelays(b, 2*pairs, 5*time.Second)
		})
	}
}

// steadyDelays runs `clients` senders against one poller for a second of warm-up and then
// `window`, and reports the delays, CPU and polls of the window.
func steadyDelays(b *testing.B, clients int, window time.Duration) {
	p, err := newPoller()
	if err != nil {
		b.Fatal(err)
	}
	defer p.close()
	log := &delayLog{delays: make([]time.Duration, 0, 200_000)}
	var targets []*polledConn
	for range clients {
		taker := &stampTaker{log: log}
		c, err := listenPolled(p, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, taker)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		taker.fd.Store(int32(c.fd))
		targets = append(targets, c)
	}
	defer startSteadySenders(b, targets)()

	time.Sleep(time.Second) // warm-up: every client sends at its pace
	cpu0, polls0 := processCPU(b), p.polls.Load()
	log.record.Store(true)
	time.Sleep(window)
	log.record.Store(false)
	cpu, polls := processCPU(b)-cpu0, p.polls.Load()-polls0

	log.mu.Lock()
	d := slices.Clone(log.delays)
	log.mu.Unlock()
	if len(d) < 100 {
		b.Fatalf("only %d packets taken in %v", len(d), window)
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(len(d))/window.Seconds(), "pkts/s")
	b.ReportMetric(float64(polls)/window.Seconds(), "polls/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/1000/float64(len(d)), "cpu-µs/pkt")
	b.ReportMetric(0, "ns/op")
}

// processCPU returns the CPU time the process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
