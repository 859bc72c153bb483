//go:build linux

package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// A poll reads its ready sockets in rounds: each round reads up to readQuantum datagrams from
// every socket that still has some, so a socket with a normal call's few datagrams since the
// last poll is read in full in the first round, whatever floods its neighbours; a flooded
// socket only gets more in later rounds. A poll stops after maxReadsPerPoll datagrams (the
// rest waits in the sockets for the next poll, which follows at once), which bounds how long
// it can keep the sockets it has not reached yet waiting. The muxed port's socket carries
// every peer: a poll reads about a millisecond of a million packets a second.
const (
	readQuantum     = 8
	maxReadsPerPoll = 1024
)

var errPollerClosed = errors.New("poller closed")

// poller reads a share of the peers' IPv4 UDP sockets (polledConn) on one goroutine, from an
// epoll set of its own: it polls again as soon as a poll has read something, and after a poll
// that found nothing it sleeps until a socket is readable, so quiet sockets cost no CPU and a
// packet waits for no clock.
//
// Why not the Go runtime's network poller, a goroutine per socket: it wakes a sleeping thread
// and a goroutine for nearly every packet, and under load those wake-ups cost as much CPU as
// everything the SFU does with the packet (docs/performance.md). One goroutine for many
// sockets wakes once for whatever arrived while it slept, and while it works through a poll
// the next packets gather for the next one: the busier the sockets, the bigger the batches,
// without a tick that would hold every packet for up to its period. The sockets are created
// here, never registered with the runtime's poller, so their packets do not wake it either.
//
// The goroutine runs while the poller has sockets and ends when the last one closes (or the
// poller does); it owns buf and scratch. mu guards conns, running and closed. A sleeping
// goroutine is woken through the wake pipe, whose read end is in the epoll set.
type poller struct {
	epfd    int
	alarmFD int             // an epoll set holding epfd one-shot, for sleep (initSleep)
	alarm   *os.File        // alarmFD, registered with the Go runtime's network poller
	raw     syscall.RawConn // alarm's
	wake    [2]int          // a pipe in epfd: a byte written to wake[1] ends a sleep

	mu      sync.Mutex
	conns   map[int32]*polledConn // by file descriptor
	running bool
	closed  bool
	wg      sync.WaitGroup // the run goroutine
	polls   atomic.Int64   // how often the goroutine polled (for tests)
	sleeps  atomic.Int64   // how often it went to sleep

	// Used by the run goroutine only.
	events  [128]syscall.EpollEvent
	ready   [128]*polledConn // the sockets of events still being read this poll
	buf     [receiveMTU]byte
	batch   recvBatch
	scratch scratch
}

// receiveMTU is the largest datagram read, as Pion's ICE reads.
const receiveMTU = 8192

// newPollers returns one poller per CPU the Go runtime uses, so the media work can spread
// over them as it did over the runtime's threads (Transport.nextPoller).
func newPollers() ([]*poller, error) {
	pollers := make([]*poller, runtime.GOMAXPROCS(0))
	for i := range pollers {
		p, err := newPoller()
		if err != nil {
			for _, q := range pollers[:i] {
				_ = q.close()
			}
			return nil, err
		}
		pollers[i] = p
	}
	return pollers, nil
}

func newPoller() (*poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("create poller: %w", os.NewSyscallError("epoll_create1", err))
	}
	p := &poller{epfd: fd, wake: [2]int{-1, -1}, conns: make(map[int32]*polledConn)}
	if err := p.initSleep(); err != nil {
		_ = p.closeFDs()
		return nil, fmt.Errorf("create poller: %w", err)
	}
	return p, nil
}

// initSleep prepares what sleep needs: the alarm, an epoll set of one that holds the poller's
// set and is registered, once and for good, with the Go runtime's network poller; and the
// wake pipe in the poller's set.
//
// The poller's set is not registered with the runtime itself: every datagram would then wake
// the runtime while the goroutine polls. The alarm holds it one-shot (EPOLLONESHOT): sleep
// arms it, the first readable socket fires it, and it stays silent until armed again.
func (p *poller) initSleep() error {
	alarm, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(alarm, true); err != nil {
		_ = syscall.Close(alarm)
		return os.NewSyscallError("set nonblock", err)
	}
	p.alarmFD = alarm
	p.alarm = os.NewFile(uintptr(alarm), "poller alarm") // non-blocking: the runtime polls it
	raw, err := p.alarm.SyscallConn()
	if err != nil {
		return fmt.Errorf("poller alarm: %w", err)
	}
	p.raw = raw
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLONESHOT, Fd: int32(p.epfd)}
	if err := syscall.EpollCtl(alarm, syscall.EPOLL_CTL_ADD, p.epfd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	if err := syscall.Pipe2(p.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		return os.NewSyscallError("pipe2", err)
	}
	ev = syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p.wake[0])}
	return os.NewSyscallError("epoll_ctl", syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev))
}

// closeFDs closes the epoll sets and the wake pipe.
func (p *poller) closeFDs() error {
	for _, fd := range p.wake {
		if fd >= 0 {
			_ = syscall.Close(fd)
		}
	}
	if p.alarm != nil {
		_ = p.alarm.Close()
	}
	return os.NewSyscallError("close", syscall.Close(p.epfd))
}

// wakeUp ends the goroutine's sleep, if it sleeps, so it sees what changed. Never blocks.
func (p *poller) wakeUp() {
	_, _ = syscall.Write(p.wake[1], []byte{1}) // a full pipe already wakes it
}

// add registers c and starts the goroutine if it is not running.
func (p *poller) add(c *polledConn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errPollerClosed
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(c.fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	p.conns[int32(c.fd)] = c
	if !p.running {
		p.running = true
		p.wg.Add(1)
		go p.run()
	}
	return nil
}

// sockets returns how many sockets the poller reads.
func (p *poller) sockets() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// remove deregisters c; after it returns, the poller reads c no more (a read in progress
// finds c's descriptor closed).
func (p *poller) remove(c *polledConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[int32(c.fd)] == c {
		delete(p.conns, int32(c.fd))
		_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
		if len(p.conns) == 0 {
			p.wakeUp() // a sleeping goroutine ends now, not at the next datagram
		}
	}
}

// close stops the goroutine and releases the epoll set. Sockets still registered are read no
// more; their owners close them.
func (p *poller) close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.wakeUp()
	p.wg.Wait()
	return p.closeFDs()
}

// run polls while polls find data, and after a poll that found none sleeps until a socket
// is readable. Between two polls that read something it only yields the processor.
func (p *poller) run() {
	defer p.wg.Done()
	for {
		read, goOn := p.poll()
		if !goOn {
			return
		}
		if read == 0 {
			p.sleep()
		} else {
			runtime.Gosched() // the goroutines the poll woke (Pion's readers of its queues) run
		}
	}
}

// sleep parks the goroutine until one of the sockets, or the wake pipe, is readable, and
// empties the pipe. It arms the alarm and waits for it in the Go runtime's network poller: no
// thread blocks in a system call (which, with an idle processor, would set the runtime's
// sysmon thread polling), and the wake-up costs what a net package read's does. The raw
// calls do not enter the scheduler's system-call state either.
func (p *poller) sleep() {
	p.sleeps.Add(1)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLONESHOT, Fd: int32(p.epfd)}
	_, _, _ = syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(p.alarmFD), syscall.EPOLL_CTL_MOD,
		uintptr(p.epfd), uintptr(unsafe.Pointer(&ev)), 0, 0)
	_ = p.raw.Read(func(uintptr) bool { // an error means the alarm was closed: run sees why
		n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(p.epfd),
			uintptr(unsafe.Pointer(&p.events[0])), 1, 0, 0, 0)
		return n > 0 || (errno != 0 && errno != syscall.EINTR)
	})
	// Take the alarm's event, if it fired: that disarms it until the next sleep.
	_, _, _ = syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(p.alarmFD),
		uintptr(unsafe.Pointer(&p.events[0])), 1, 0, 0, 0)
	var b [16]byte
	for {
		n, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(p.wake[0]),
			uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if int(n) <= 0 || errno != 0 {
			return
		}
	}
}

// poll reads every socket that has data, and reports how many datagrams it read and whether
// the goroutine should go on.
func (p *poller) poll() (read int, goOn bool) {
	p.polls.Add(1)
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(p.epfd),
		uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)), 0, 0, 0)
	if errno != 0 {
		n = 0 // EINTR: the poll reads nothing; the sleep that follows returns at once
	}
	ready := p.ready[:0]
	p.mu.Lock()
	for i := range int(n) {
		if c := p.conns[p.events[i].Fd]; c != nil { // the wake pipe is none of conns
			ready = append(ready, c)
		}
	}
	p.mu.Unlock()
	for len(ready) > 0 && read < maxReadsPerPoll {
		left := ready[:0]
		for _, c := range ready {
			got := p.drain(c, readQuantum)
			read += got
			if got == readQuantum {
				left = append(left, c) // may have more
			}
		}
		ready = left
	}
	clear(p.ready[:]) // hold no closed socket until the next poll
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.conns) == 0 {
		p.running = false
		return read, false
	}
	return read, true
}

// drain reads up to limit of c's queued datagrams through the read loop (readForPion) and
// returns how many it read: media goes to c's taker, the rest is queued for Pion's reader of
// c. A socket read after it was removed (closed) reads nothing.
func (p *poller) drain(c *polledConn, limit int) int {
	read := 0
	p.batch.start()
	next := func(b []byte) (int, netip.AddrPort, error) {
		n, from, ok := p.batch.take(c, b, read, limit)
		if !ok {
			return 0, netip.AddrPort{}, errDrained
		}
		read++
		return n, from, nil
	}
	for {
		n, from, err := readForPion(next, p.buf[:], c.taker, &p.scratch, nil)
		if err != nil {
			return read
		}
		c.queue(p.buf[:n], from)
	}
}

// errDrained ends drain's read loop: the socket has no more datagrams, or the poll's share
// of them was read.
var errDrained = errors.New("socket drained")

// openUDP4 opens a non-blocking IPv4 UDP socket bound to laddr (port 0: any), outside the Go
// runtime's poller, and returns it with its bound address.
func openUDP4(laddr *net.UDPAddr) (int, *net.UDPAddr, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC,
		syscall.IPPROTO_UDP)
	if err != nil {
		return -1, nil, os.NewSyscallError("socket", err)
	}
	sa := &syscall.SockaddrInet4{Port: laddr.Port}
	copy(sa.Addr[:], laddr.IP.To4())
	if err := syscall.Bind(fd, sa); err != nil {
		_ = syscall.Close(fd)
		return -1, nil, os.NewSyscallError("bind", err)
	}
	bound, err := syscall.Getsockname(fd)
	if err != nil {
		_ = syscall.Close(fd)
		return -1, nil, os.NewSyscallError("getsockname", err)
	}
	b4, ok := bound.(*syscall.SockaddrInet4)
	if !ok {
		_ = syscall.Close(fd)
		return -1, nil, errors.New("getsockname: not an IPv4 address")
	}
	ip := make(net.IP, net.IPv4len)
	copy(ip, b4.Addr[:])
	return fd, &net.UDPAddr{IP: ip, Port: b4.Port}, nil
}
