//go:build linux

package sfu

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// rawIO reads and writes an IPv4 UDP socket with raw system calls (syscall.RawSyscall6)
// instead of the net package's, which enter the Go scheduler's system-call state. With the
// server's one P going idle between packets, each of those calls woke the runtime's sysmon
// thread, which then polled every 20 µs until the P went idle again: about a third of the
// server's CPU under load (docs/performance.md). recvfrom and sendto on the non-blocking
// socket never block, so the raw calls are safe; when the socket is empty (or full) the net
// poller parks the goroutine as usual (syscall.RawConn).
//
// IPv6 sockets keep the net package's I/O, which also maps scope ids to zone names.
type rawIO struct {
	conn syscall.RawConn

	// The read state, used only by the reading goroutine (a mediaConn has one).
	rbuf   []byte
	rn     int
	rerr   syscall.Errno
	rsa    syscall.RawSockaddrInet4
	rsalen uint32
	readFn func(fd uintptr) bool

	senders sync.Pool // of *rawSender: writes come from several goroutines
}

// newPacketIO returns raw I/O for an IPv4 socket and the net package's otherwise.
func newPacketIO(udp *net.UDPConn) packetIO {
	local, ok := udp.LocalAddr().(*net.UDPAddr)
	if !ok || local.IP.To4() == nil {
		return netIO{udp: udp}
	}
	conn, err := udp.SyscallConn()
	if err != nil {
		return netIO{udp: udp}
	}
	r := &rawIO{conn: conn}
	r.readFn = r.recvfrom
	r.senders.New = func() any {
		s := &rawSender{}
		s.fn = s.sendto
		return s
	}
	return r
}

func (r *rawIO) recv(b []byte) (int, netip.AddrPort, error) {
	r.rbuf = b
	err := r.conn.Read(r.readFn)
	r.rbuf = nil
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	if r.rerr != 0 {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Err: os.NewSyscallError("recvfrom", r.rerr)}
	}
	port := (*[2]byte)(unsafe.Pointer(&r.rsa.Port)) // network byte order
	return r.rn, netip.AddrPortFrom(netip.AddrFrom4(r.rsa.Addr), uint16(port[0])<<8|uint16(port[1])), nil
}

// recvfrom is the RawConn read function: one recvfrom(2); false asks the poller to wait.
func (r *rawIO) recvfrom(fd uintptr) bool {
	for {
		r.rsalen = syscall.SizeofSockaddrInet4
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd,
			uintptr(unsafe.Pointer(unsafe.SliceData(r.rbuf))), uintptr(len(r.rbuf)), 0,
			uintptr(unsafe.Pointer(&r.rsa)), uintptr(unsafe.Pointer(&r.rsalen)))
		switch errno {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		r.rn, r.rerr = int(n), errno
		return true
	}
}

// rawSender is the state of one write; pooled so a write allocates nothing.
type rawSender struct {
	buf []byte
	sa  syscall.RawSockaddrInet4
	n   int
	err syscall.Errno
	fn  func(fd uintptr) bool // s.sendto, bound once
}

func (r *rawIO) send(b []byte, addr netip.AddrPort) (int, error) {
	ip := addr.Addr().Unmap()
	if !ip.Is4() {
		return 0, &net.OpError{Op: "write", Net: "udp4", Err: syscall.EAFNOSUPPORT}
	}
	s := r.senders.Get().(*rawSender)
	s.buf = b
	s.sa.Family = syscall.AF_INET
	s.sa.Addr = ip.As4()
	port := (*[2]byte)(unsafe.Pointer(&s.sa.Port))
	port[0], port[1] = byte(addr.Port()>>8), byte(addr.Port())
	err := r.conn.Write(s.fn)
	n, errno := s.n, s.err
	s.buf = nil
	r.senders.Put(s)
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, &net.OpError{Op: "write", Net: "udp", Err: os.NewSyscallError("sendto", errno)}
	}
	return n, nil
}

// sendto is the RawConn write function: one sendto(2); false asks the poller to wait.
func (s *rawSender) sendto(fd uintptr) bool {
	for {
		n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, fd,
			uintptr(unsafe.Pointer(unsafe.SliceData(s.buf))), uintptr(len(s.buf)), 0,
			uintptr(unsafe.Pointer(&s.sa)), syscall.SizeofSockaddrInet4)
		switch errno {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		s.n, s.err = int(n), errno
		return true
	}
}
