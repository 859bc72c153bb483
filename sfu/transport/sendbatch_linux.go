//go:build linux

package transport

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendBatchMax is how many datagrams one sendmmsg(2) call of WriteBatch carries.
const sendBatchMax = 16

// sendScratch is what one WriteBatch call hands the kernel: the messages, their buffers'
// addresses and the one destination. Pooled: its pointers point into itself and into the
// caller's buffers (cleared after the call).
type sendScratch struct {
	hdrs [sendBatchMax]mmsghdr
	iovs [sendBatchMax]syscall.Iovec
	sa   syscall.RawSockaddrInet4
}

var sendScratches = sync.Pool{New: func() any { return new(sendScratch) }}

// WriteBatch writes each of bufs to addr as a datagram of its own, in order, with as few
// sendmmsg(2) calls as it takes (one for up to sendBatchMax datagrams), from any goroutine,
// without allocation once warm. It returns how many it sent; an error ends the batch there.
// Empty buffers are not allowed.
func (c *polledConn) WriteBatch(bufs [][]byte, addr netip.AddrPort) (int, error) {
	ip := addr.Addr().Unmap()
	if !ip.Is4() {
		return 0, c.opError("write", syscall.EAFNOSUPPORT)
	}
	s := sendScratches.Get().(*sendScratch)
	defer sendScratches.Put(s)
	s.sa.Family = syscall.AF_INET
	s.sa.Addr = ip.As4()
	port := (*[2]byte)(unsafe.Pointer(&s.sa.Port))
	port[0], port[1] = byte(addr.Port()>>8), byte(addr.Port())
	c.fdMu.RLock()
	defer c.fdMu.RUnlock()
	if c.fd < 0 {
		return 0, c.opError("write", net.ErrClosed)
	}
	sent := 0
	for sent < len(bufs) {
		k := min(len(bufs)-sent, sendBatchMax)
		for i := range k {
			s.iovs[i].Base = &bufs[sent+i][0]
			s.iovs[i].SetLen(len(bufs[sent+i]))
			s.hdrs[i] = mmsghdr{hdr: syscall.Msghdr{
				Name: (*byte)(unsafe.Pointer(&s.sa)), Namelen: syscall.SizeofSockaddrInet4,
				Iov: &s.iovs[i], Iovlen: 1,
			}}
		}
		n, errno := c.sendmmsg(&s.hdrs[0], k)
		for i := range k {
			s.iovs[i].Base = nil // the pool keeps no caller's buffer alive
		}
		if errno != 0 {
			return sent, c.opError("write", os.NewSyscallError("sendmmsg", errno))
		}
		sent += n
	}
	return sent, nil
}

// sendmmsg is one sendmmsg(2) call of k messages, retried on EINTR. Called with fdMu held.
func (c *polledConn) sendmmsg(hdrs *mmsghdr, k int) (int, syscall.Errno) {
	for {
		n, _, errno := syscall.RawSyscall6(sysSendmmsg, uintptr(c.fd), uintptr(unsafe.Pointer(hdrs)), uintptr(k), 0, 0, 0)
		if errno != syscall.EINTR {
			return int(n), errno
		}
	}
}

// sysSendmmsg is sendmmsg(2)'s number.
const sysSendmmsg = unix.SYS_SENDMMSG
