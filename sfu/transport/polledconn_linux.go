//go:build linux

package transport

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/pion/transport/v5/deadline"
	"github.com/pion/webrtc/v4"
)

// polledConn is one IPv4 ICE host socket of a peer (or the socket of the muxed UDP port),
// read by a poller. Media packets are handled on the poller's goroutine (its packetTaker:
// the peer's inbound, or muxRoutes); the rest (STUN, DTLS, media before the
// SRTP keys are known) is queued for Pion's ICE, which reads it with ReadFromAddrPort as from
// any socket. Writes are one sendto(2) each, from any goroutine.
//
// It implements transport.UDPConn for Pion's ICE agent. Safe for concurrent use.
type polledConn struct {
	poller *poller
	taker  packetTaker
	local  *net.UDPAddr

	// fdMu is read-locked around each system call on fd and write-locked only to close it,
	// so a descriptor is never closed (and its number reused) under a call in flight.
	fdMu sync.RWMutex
	fd   int // -1 once closed

	seen         seenAddrs         // where the packets Pion read came from
	forPion      chan queuedPacket // datagrams for Pion's reader, in slots
	spare        chan []byte       // slots Pion's reader is done with, for queue to reuse
	closed       chan struct{}
	closeOnce    sync.Once
	readDeadline *deadline.Deadline
}

// queuedPacket is a datagram waiting for Pion's reader, in a slot of the socket's (see
// polledConn.queue).
type queuedPacket struct {
	data []byte
	addr netip.AddrPort
}

// pionQueueLen bounds the datagrams waiting for Pion's reader of one socket; beyond it they
// are dropped, as a full socket buffer would.
const pionQueueLen = 64

// slotSize is the capacity of a queue slot: the largest datagram ICE, DTLS (whose records
// browsers keep within about 1200 bytes) and early media send in practice. A larger one
// gets a buffer of its own.
const slotSize = 1500

// listenPolled opens a socket bound to laddr and registers it with p; t takes its media.
func listenPolled(p *poller, laddr *net.UDPAddr, t packetTaker) (*polledConn, error) {
	fd, local, err := openUDP4(laddr)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "udp4", Addr: laddr, Err: err}
	}
	c := &polledConn{poller: p, taker: t, local: local, fd: fd,
		forPion: make(chan queuedPacket, pionQueueLen), spare: make(chan []byte, pionQueueLen),
		closed:       make(chan struct{}),
		readDeadline: deadline.New()}
	if err := p.add(c); err != nil {
		_ = syscall.Close(fd)
		return nil, &net.OpError{Op: "listen", Net: "udp4", Addr: laddr, Err: err}
	}
	return c, nil
}

// queue hands a copy of a datagram to Pion's reader, or drops it if the queue is full or the
// datagram is none of what Pion reads from a media socket. The copy goes into a slot that
// Pion's reader hands back (release), so a flood costs no allocation: at most
// 2*pionQueueLen+1 slots are ever made per socket, and only as the queue first fills.
func (c *polledConn) queue(b []byte, addr netip.AddrPort) {
	if len(c.forPion) == cap(c.forPion) || !forPion(b) {
		return
	}
	var slot []byte
	select {
	case slot = <-c.spare:
	default:
		slot = make([]byte, 0, slotSize)
	}
	if len(b) > cap(slot) {
		slot = make([]byte, 0, len(b)) // rare; not kept as a slot
	}
	select {
	case c.forPion <- queuedPacket{data: append(slot[:0], b...), addr: addr}:
	default:
	}
}

// release hands pkt's slot back to queue once its data was copied out.
func (c *polledConn) release(pkt queuedPacket) {
	if cap(pkt.data) != slotSize {
		return
	}
	select {
	case c.spare <- pkt.data[:0]:
	default:
	}
}

// forPion reports whether b can be for Pion's ICE agent: by its first byte (RFC 7983), STUN,
// DTLS or RTP/RTCP (media that arrived before the SRTP keys were known). Anything else would
// be read and thrown away by Pion.
func forPion(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	switch first := b[0]; {
	case first <= 3, first >= 20 && first <= 63, first >= 128 && first <= 191:
		return true
	}
	return false
}

// localPort implements mediaSocket.
func (c *polledConn) localPort() uint16 { return uint16(c.local.Port) }

// transport implements mediaSocket.
func (c *polledConn) transport() webrtc.ICEProtocol { return webrtc.ICEProtocolUDP }

// receivedFrom implements mediaSocket.
func (c *polledConn) receivedFrom(addr netip.AddrPort) bool { return c.seen.has(addr) }

// ReadFromAddrPort implements ice.AddrPortReaderWriter, the read Pion's ICE uses: the next
// datagram the fast path did not take.
func (c *polledConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	select {
	case pkt := <-c.forPion:
		c.seen.add(pkt.addr)
		n := copy(b, pkt.data)
		c.release(pkt)
		return n, pkt.addr, nil
	case <-c.closed:
		return 0, netip.AddrPort{}, c.opError("read", net.ErrClosed)
	case <-c.readDeadline.Done():
		select {
		case <-c.closed: // ICE sets a deadline just before it closes: report the close
			return 0, netip.AddrPort{}, c.opError("read", net.ErrClosed)
		default:
			return 0, netip.AddrPort{}, c.opError("read", os.ErrDeadlineExceeded)
		}
	}
}

// WriteToAddrPort implements ice.AddrPortReaderWriter: one sendto(2), no allocation. A full
// socket buffer drops the datagram (EAGAIN is returned) instead of blocking.
func (c *polledConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	ip := addr.Addr().Unmap()
	if !ip.Is4() {
		return 0, c.opError("write", syscall.EAFNOSUPPORT)
	}
	var sa syscall.RawSockaddrInet4
	sa.Family = syscall.AF_INET
	sa.Addr = ip.As4()
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	port[0], port[1] = byte(addr.Port()>>8), byte(addr.Port())
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	c.fdMu.RLock()
	if c.fd < 0 {
		c.fdMu.RUnlock()
		return 0, c.opError("write", net.ErrClosed)
	}
	var n uintptr
	var errno syscall.Errno
	for {
		n, _, errno = syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(c.fd), uintptr(p), uintptr(len(b)), 0,
			uintptr(unsafe.Pointer(&sa)), syscall.SizeofSockaddrInet4)
		if errno != syscall.EINTR {
			break
		}
	}
	c.fdMu.RUnlock()
	if errno != 0 {
		return 0, c.opError("write", os.NewSyscallError("sendto", errno))
	}
	return int(n), nil
}

func (c *polledConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp4", Source: c.local, Err: err}
}

// Close unblocks Pion's reader, stops the poller reading the socket and closes it.
// Idempotent.
func (c *polledConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		c.poller.remove(c)
		c.fdMu.Lock()
		err = syscall.Close(c.fd)
		c.fd = -1
		c.fdMu.Unlock()
		c.readDeadline.Set(time.Time{}) // stops its timer
	})
	if err != nil {
		return c.opError("close", os.NewSyscallError("close", err))
	}
	return nil
}

// ReadFrom implements net.PacketConn.
func (c *polledConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromAddrPort(b)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}

// ReadFromUDP implements transport.UDPConn.
func (c *polledConn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, addr, err := c.ReadFromAddrPort(b)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}

// ReadMsgUDP implements transport.UDPConn; no control messages are read.
func (c *polledConn) ReadMsgUDP(b, _ []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	n, addr, err = c.ReadFromUDP(b)
	return n, 0, 0, addr, err
}

// Read implements transport.UDPConn.
func (c *polledConn) Read(b []byte) (int, error) {
	n, _, err := c.ReadFromAddrPort(b)
	return n, err
}

// WriteTo implements net.PacketConn.
func (c *polledConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	udp, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, c.opError("write", syscall.EINVAL)
	}
	return c.WriteToUDP(b, udp)
}

// WriteToUDP implements transport.UDPConn.
func (c *polledConn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	if addr == nil {
		return 0, c.opError("write", syscall.EDESTADDRREQ)
	}
	return c.WriteToAddrPort(b, addr.AddrPort())
}

// WriteMsgUDP implements transport.UDPConn; control messages are not supported.
func (c *polledConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (n, oobn int, err error) {
	if len(oob) > 0 {
		return 0, 0, c.opError("write", errors.ErrUnsupported)
	}
	n, err = c.WriteToUDP(b, addr)
	return n, 0, err
}

// Write implements transport.UDPConn: the socket is not connected, so it always fails.
func (c *polledConn) Write([]byte) (int, error) {
	return 0, c.opError("write", syscall.EDESTADDRREQ)
}

// LocalAddr implements net.PacketConn.
func (c *polledConn) LocalAddr() net.Addr { return c.local }

// RemoteAddr implements transport.UDPConn: the socket is not connected.
func (c *polledConn) RemoteAddr() net.Addr { return nil }

// SetDeadline implements net.PacketConn (writes never block, so only reads have one).
func (c *polledConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// SetReadDeadline implements net.PacketConn.
func (c *polledConn) SetReadDeadline(t time.Time) error {
	c.readDeadline.Set(t)
	return nil
}

// SetWriteDeadline implements net.PacketConn; writes never block.
func (c *polledConn) SetWriteDeadline(time.Time) error { return nil }

// SetReadBuffer implements transport.UDPConn.
func (c *polledConn) SetReadBuffer(bytes int) error {
	return c.setsockopt(syscall.SO_RCVBUF, bytes)
}

// SetWriteBuffer implements transport.UDPConn.
func (c *polledConn) SetWriteBuffer(bytes int) error {
	return c.setsockopt(syscall.SO_SNDBUF, bytes)
}

func (c *polledConn) setsockopt(opt, value int) error {
	c.fdMu.RLock()
	defer c.fdMu.RUnlock()
	if c.fd < 0 {
		return c.opError("set", net.ErrClosed)
	}
	if err := syscall.SetsockoptInt(c.fd, syscall.SOL_SOCKET, opt, value); err != nil {
		return c.opError("set", os.NewSyscallError("setsockopt", err))
	}
	return nil
}
