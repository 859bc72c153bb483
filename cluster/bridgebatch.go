package cluster

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// Packets to a peer are coalesced: Send adds the packet to the peer's open
// datagram as a record (stream id, length, packet) and wakes the bridge's
// flusher, which seals and sends every open datagram. A forwarding goroutine
// (an SFU poller) forwards all it read in one poll before it yields, and only
// then does the flusher run on that processor, so the packets of one poll to
// the same instance (a video frame is several) leave in one datagram, one
// sendto here and one read there. A datagram never grows beyond the path's
// MTU (pathMTU), so coalescing never fragments: on a 1500-byte network it
// merges small packets (audio, keyframe requests), on loopback or jumbo
// frames whole frames. The datagrams of one flush leave in one system call
// where the socket can write several (batchWriter: the SFU's polled socket,
// sendmmsg), which matters on a 1500-byte network, where a video frame is
// several datagrams.
//
// The hold (SetHold, cluster.bridge_hold) lets a peer's first record wait up
// to that long for others before the flusher sends it: the datagrams of
// several polls leave together, so both instances make fewer system calls and
// the other instance wakes less often, for that much more delay on the
// bridged media. SendNow's records (keyframe requests, loss feedback) do not
// wait: they leave with everything open for the peer at the end of the poll.

const (
	recordHeaderLen = streamIDLen + 2 // stream id, then the packet's length
	gcmTagLen       = 16
	// maxDatagram bounds a coalesced datagram: what the SFU's pollers read whole.
	maxDatagram = 8192
	// flushQueue is how many peers can wait for the flusher; more (only with
	// as many instances) are flushed by Send itself.
	flushQueue = 256
)

// bridgeBatch is one datagram being filled with records, then sealed in place.
type bridgeBatch struct {
	buf   [maxDatagram]byte
	n     int // bytes used: the header, then the records
	nonce [12]byte
}

// add appends a record; the caller checked that it fits.
func (d *bridgeBatch) add(stream uint64, pkt []byte) {
	binary.BigEndian.PutUint64(d.buf[d.n:], stream)
	binary.BigEndian.PutUint16(d.buf[d.n+streamIDLen:], uint16(len(pkt)))
	d.n += recordHeaderLen + copy(d.buf[d.n+recordHeaderLen:], pkt)
}

// Send adds pkt for stream to the peer's open datagram, which the flusher
// sends once the calling goroutine yields and the bridge's hold has passed
// since the datagram opened. Safe for concurrent use; it allocates nothing
// once warm, and its lock is never held across a network write. Datagrams to
// a peer leave in the order they were filled: only the flusher writes them
// (but for the rare Send that finds the flusher's queue full, which writes
// them itself).
func (p *BridgePeer) Send(stream uint64, pkt []byte) error {
	return p.add(stream, pkt, false)
}

// SendNow is Send for a record nobody should wait for (a keyframe request, a
// NACK): it leaves, with whatever else is open for the peer, as soon as the
// calling goroutine yields, whatever the hold.
func (p *BridgePeer) SendNow(stream uint64, pkt []byte) error {
	return p.add(stream, pkt, true)
}

// add is Send and SendNow.
func (p *BridgePeer) add(stream uint64, pkt []byte, now bool) error {
	if len(pkt) > MaxBridgedPacket {
		return fmt.Errorf("media bridge: a %d-byte packet is over %d", len(pkt), MaxBridgedPacket)
	}
	size := recordHeaderLen + len(pkt)
	hold := time.Duration(p.b.hold.Load())
	p.outMu.Lock()
	if p.open != nil && p.open.n+size+gcmTagLen > p.limit {
		p.full = append(p.full, p.open) // grows only until the busiest flush's share fits
		p.open = nil
	}
	if p.open == nil {
		p.open = p.b.batches.Get().(*bridgeBatch)
		p.open.n = bridgeHeaderLen
	}
	p.open.add(stream, pkt)
	kick := false
	switch {
	case !p.queued:
		p.queued, kick = true, true
		p.due = time.Time{} // at once
		if hold > 0 && !now {
			p.due = time.Now().Add(hold)
		}
	case now && !p.due.IsZero():
		p.due, kick = time.Time{}, true // the flusher looks at the peer again
	}
	p.outMu.Unlock()
	if kick {
		select {
		case p.b.flushes <- p:
		default: // as many peers waiting as the queue holds: send now
			p.flushAll()
		}
	}
	return nil
}

// dueAt is when the flusher is to send the peer's datagrams (zero: at once).
func (p *BridgePeer) dueAt() time.Time {
	p.outMu.Lock()
	defer p.outMu.Unlock()
	return p.due
}

// flushAll seals and sends, in order, the peer's full datagrams and its open
// one.
func (p *BridgePeer) flushAll() {
	p.outMu.Lock()
	todo := p.full
	p.full, p.spare = p.spare, nil
	if p.open != nil {
		todo = append(todo, p.open)
		p.open = nil
	}
	p.queued = false
	p.outMu.Unlock()
	if bw, ok := p.b.conn.(batchWriter); ok && len(todo) > 1 {
		p.flushBatch(bw, todo)
	} else {
		for i, d := range todo {
			_ = p.flush(d) // a lost datagram is lost packets, as on the network
			todo[i] = nil
		}
	}
	p.outMu.Lock()
	if p.spare == nil {
		p.spare = todo[:0]
	}
	p.outMu.Unlock()
}

// flush seals d and writes it to the peer, then returns it to the pool.
func (p *BridgePeer) flush(d *bridgeBatch) error {
	n := p.sealBatch(d.buf[:], d.n, &d.nonce)
	_, err := p.b.conn.WriteToAddrPort(d.buf[:n], p.addr)
	p.b.batches.Put(d)
	if err != nil {
		p.b.sendFails.Add(1)
	} else {
		p.b.sent.Add(1)
	}
	return err
}

// batchWriter is a BridgeSocket that writes several datagrams to one address
// in one system call (sendmmsg), returning how many it wrote; the SFU's polled
// socket is one (sfu/transport).
type batchWriter interface {
	WriteBatch(bufs [][]byte, addr netip.AddrPort) (int, error)
}

// flushBatch seals the datagrams of todo, in order, writes them with one
// call of bw and returns them to the pool; todo's entries are cleared. A
// datagram the socket refused is lost packets, as on the network.
func (p *BridgePeer) flushBatch(bw batchWriter, todo []*bridgeBatch) {
	bufs := p.b.sendBufs.Get().(*[][]byte)
	out := (*bufs)[:0] // grows only until the largest flush fits
	for _, d := range todo {
		n := p.sealBatch(d.buf[:], d.n, &d.nonce)
		out = append(out, d.buf[:n])
	}
	sent, _ := bw.WriteBatch(out, p.addr)
	p.b.sent.Add(uint64(sent))
	p.b.sendFails.Add(uint64(len(out) - sent))
	for i, d := range todo {
		p.b.batches.Put(d)
		todo[i], out[i] = nil, nil
	}
	*bufs = out[:0]
	p.b.sendBufs.Put(bufs)
}

// sealBatch writes the header into buf, whose records end at end, seals them
// in place and returns the datagram's length.
func (p *BridgePeer) sealBatch(buf []byte, end int, nonce *[12]byte) int {
	count := p.count.Add(1)
	buf[0] = bridgeVersion
	binary.BigEndian.PutUint64(buf[1:9], p.b.tag)
	binary.BigEndian.PutUint64(buf[9:17], count)
	binary.BigEndian.PutUint64(nonce[4:], count)
	sealed := p.send.Seal(buf[bridgeHeaderLen:bridgeHeaderLen], nonce[:], buf[bridgeHeaderLen:end], buf[:bridgeHeaderLen])
	return bridgeHeaderLen + len(sealed)
}

// seal writes a datagram of the one packet pkt into buf (at least
// bridgeBufLen long) and returns its length.
func (p *BridgePeer) seal(buf []byte, nonce *[12]byte, stream uint64, pkt []byte) int {
	binary.BigEndian.PutUint64(buf[bridgeHeaderLen:], stream)
	binary.BigEndian.PutUint16(buf[bridgeHeaderLen+streamIDLen:], uint16(len(pkt)))
	n := copy(buf[bridgeHeaderLen+recordHeaderLen:], pkt)
	return p.sealBatch(buf, bridgeHeaderLen+recordHeaderLen+n, nonce)
}

// flusher sends the datagrams Send opened, each peer's once its due time
// has come, until the bridge closes. waiting holds the peers it was told of
// whose datagrams are not sent yet, in the order they opened (so, the hold
// being the same for all, mostly in the order they are due); a peer in it
// has waiting set. Only this goroutine touches either.
func (b *Bridge) flusher() {
	defer close(b.flusherDone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var waiting []*BridgePeer
	for {
		select {
		case p := <-b.flushes:
			if !p.waiting {
				p.waiting = true
				waiting = append(waiting, p)
			}
		case <-timer.C:
		case <-b.stop:
			return
		}
		var next time.Time
		waiting, next = flushDue(waiting)
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
	}
}

// flushDue sends the datagrams of the peers in waiting that are due, and
// returns the others, in order, with the earliest due time among them (zero
// if none). Called by the flusher only.
func flushDue(waiting []*BridgePeer) (kept []*BridgePeer, next time.Time) {
	kept = waiting[:0]
	var now time.Time
	for _, p := range waiting {
		due := p.dueAt()
		if !due.IsZero() {
			if now.IsZero() {
				now = time.Now()
			}
			if due.After(now) {
				kept = append(kept, p)
				if next.IsZero() || due.Before(next) {
					next = due
				}
				continue
			}
		}
		p.waiting = false
		p.flushAll()
	}
	clear(waiting[len(kept):])
	return kept, next
}

// records hands each record of an opened datagram to the sink, and reports
// whether they were well formed (a record cut short ends the datagram).
func (b *Bridge) records(from string, plain []byte) bool {
	for len(plain) > 0 {
		if len(plain) < recordHeaderLen {
			return false
		}
		stream := binary.BigEndian.Uint64(plain)
		n := int(binary.BigEndian.Uint16(plain[streamIDLen:]))
		plain = plain[recordHeaderLen:]
		if n > len(plain) {
			return false
		}
		b.sink.HandleBridged(from, stream, plain[:n])
		plain = plain[n:]
	}
	return true
}

// datagramLimit is the largest datagram to send to addr: its path's MTU less
// the IP and UDP headers, at most maxDatagram, and never less than one
// packet's datagram (which the network may then fragment, as before
// coalescing).
func datagramLimit(addr netip.AddrPort) int {
	headers := 20 + 8
	if addr.Addr().Unmap().Is6() {
		headers = 40 + 8
	}
	return min(max(pathMTU(addr)-headers, bridgeBufLen), maxDatagram)
}
