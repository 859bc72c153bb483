//go:build linux

package transport

import (
	"net/netip"
	"syscall"
	"unsafe"
)

// recvBatch reads a socket's datagrams several at a time with recvmmsg, for the poller: a
// socket with k datagrams waiting costs one system call where one recvfrom each, and one more
// to learn the socket was empty, cost k+1. On a virtual machine whose system calls are dear,
// that is most of the kernel's share of a packet's cost (docs/performance.md). Owned by the
// poller's goroutine; its buffers point into itself, so it must not be copied once set up.
type recvBatch struct {
	hdrs  [readQuantum]mmsghdr
	iovs  [readQuantum]syscall.Iovec
	addrs [readQuantum]syscall.RawSockaddrInet4
	bufs  [readQuantum][receiveMTU]byte

	n, next int  // datagrams in the batch, and the next to hand out
	empty   bool // the last recvmmsg found fewer datagrams than it asked for
	ready   bool // hdrs and iovs point at the buffers
	calls   int  // recvmmsg calls made (for tests)
}

// sysRecvmmsg is recvmmsg(2)'s number.
const sysRecvmmsg = syscall.SYS_RECVMMSG

// mmsghdr is the kernel's struct mmsghdr: Go pads it to the alignment of Msghdr, as C does.
type mmsghdr struct {
	hdr syscall.Msghdr
	len uint32
}

// start readies the batch for reading another socket.
func (b *recvBatch) start() {
	if !b.ready {
		for i := range b.hdrs {
			b.iovs[i].Base = &b.bufs[i][0]
			b.iovs[i].SetLen(receiveMTU)
			b.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.addrs[i]))
			b.hdrs[i].hdr.Iov = &b.iovs[i]
			b.hdrs[i].hdr.Iovlen = 1
		}
		b.ready = true
	}
	b.n, b.next, b.empty = 0, 0, false
}

// take copies the next datagram of c into dst and returns its length and sender; ok is false
// when c has no more, or when max datagrams were taken since start (max at most readQuantum
// more than the batch holds: a batch asks for no more than max still allows).
func (b *recvBatch) take(c *polledConn, dst []byte, taken, max int) (n int, from netip.AddrPort, ok bool) {
	if b.next == b.n {
		if b.empty || taken >= max || !b.fill(c, min(readQuantum, max-taken)) {
			return 0, netip.AddrPort{}, false
		}
	}
	i := b.next
	b.next++
	n = copy(dst, b.bufs[i][:b.hdrs[i].len])
	port := (*[2]byte)(unsafe.Pointer(&b.addrs[i].Port)) // network byte order
	return n, netip.AddrPortFrom(netip.AddrFrom4(b.addrs[i].Addr), uint16(port[0])<<8|uint16(port[1])), true
}

// fill reads up to want datagrams of c into the batch, reporting whether it read any.
func (b *recvBatch) fill(c *polledConn, want int) bool {
	c.fdMu.RLock()
	defer c.fdMu.RUnlock()
	if c.fd < 0 {
		return false
	}
	for i := range want {
		b.hdrs[i].hdr.Namelen = syscall.SizeofSockaddrInet4
		b.hdrs[i].hdr.Flags = 0
	}
	for {
		b.calls++
		got, _, errno := syscall.RawSyscall6(sysRecvmmsg, uintptr(c.fd),
			uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(want), syscall.MSG_DONTWAIT, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 || got == 0 {
			b.n, b.next, b.empty = 0, 0, true
			return false
		}
		b.n, b.next, b.empty = int(got), 0, int(got) < want
		return true
	}
}
