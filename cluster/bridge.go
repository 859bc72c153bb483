package cluster

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// The media bridge carries media between instances whose users are partners:
// one UDP socket per instance, one link per pair of instances carrying all
// their calls, every datagram authenticated and encrypted with a key derived
// from the cluster secret for that direction (the network between instances
// is not trusted).
//
// A datagram: version (1 byte), the sender's tag (8 bytes: the start of the
// SHA-256 of its instance id), a counter (8 bytes, big-endian), then sealed
// with AES-256-GCM (nonce: 4 zero bytes and the counter; the header as
// additional data) one or more records, each a stream id (8 bytes), the
// packet's length (2 bytes) and the packet, and GCM's 16-byte tag (several
// packets to the same instance share a datagram: bridgebatch.go). Instance
// ids are new with each process, so a direction's key is new with each pair
// of processes and a counter from 1 never repeats a nonce.
// The receiver drops what does not open, and counters it has seen or that
// are more than a window behind (replays).

const (
	bridgeVersion   = 2
	bridgeHeaderLen = 1 + 8 + 8
	streamIDLen     = 8
	// bridgeOverhead is what the bridge adds to a packet sent alone.
	bridgeOverhead = bridgeHeaderLen + recordHeaderLen + gcmTagLen
	// MaxBridgedPacket is the largest packet the bridge carries.
	MaxBridgedPacket = 1500
	replayWindow     = 64
)

// BridgeSink takes the packets that arrive over the bridge. HandleBridged is
// called on the goroutine that reads the bridge's socket (the bridge's own,
// or the BridgeListener's), one packet at a time; pkt is valid only during
// the call, and HandleBridged must not block.
type BridgeSink interface {
	HandleBridged(from string, stream uint64, pkt []byte)
}

// BridgeSocket is the bridge's UDP socket. WriteToAddrPort is called from
// any goroutine and must not allocate.
type BridgeSocket interface {
	WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error)
	LocalAddr() net.Addr
	Close() error
}

// BridgeListener opens the bridge's socket on addr and reads it on a
// goroutine of its own, handing each datagram to deliver, one at a time (d is
// valid only during the call). The server's listener is the SFU's pollers
// (sfu.SFU.ListenDatagrams), which read the bridge in the same polls as the
// clients' sockets: no wake-up of a goroutine per datagram, and no wait for
// the runtime's network poller while the pollers keep the processor busy.
type BridgeListener func(addr netip.AddrPort, deliver func(d []byte, from netip.AddrPort)) (BridgeSocket, error)

// Bridge is this instance's end of the media bridge. Send (on a BridgePeer)
// is safe for concurrent use and allocates nothing; AddPeer and RemovePeer
// may be called at any time. Without a BridgeListener the Bridge reads its
// socket on a goroutine of its own, which ends with Close.
type Bridge struct {
	self   string
	tag    uint64 // instanceTag(self)
	secret []byte
	conn   BridgeSocket
	sink   BridgeSink
	log    *slog.Logger

	mu    sync.Mutex                             // serialises AddPeer and RemovePeer
	peers atomic.Pointer[map[uint64]*BridgePeer] // by sender tag; replaced, never changed

	dropped   atomic.Uint64 // datagrams that did not open, replays, unknown senders
	datagrams atomic.Uint64 // datagrams opened
	sent      atomic.Uint64 // datagrams written to peers
	sendFails atomic.Uint64 // datagrams the socket refused
	done      chan struct{} // closed when the read goroutine ends (at once if it has none)

	batches     sync.Pool        // *bridgeBatch, for Send
	sendBufs    sync.Pool        // *[][]byte, a flush's sealed datagrams (flushBatch)
	flushes     chan *BridgePeer // peers whose open datagram waits for the flusher
	hold        atomic.Int64     // how long a datagram may wait for more records, in ns (SetHold)
	stop        chan struct{}    // closed by Close
	flusherDone chan struct{}

	nonce [12]byte // open's, used by the socket's reader only
}

// bridgeBufLen is the length of a datagram of one packet of the largest size.
const bridgeBufLen = MaxBridgedPacket + bridgeOverhead

// BridgePeer is the link to one other instance.
type BridgePeer struct {
	id    string
	addr  netip.AddrPort
	send  cipher.AEAD // this instance to the peer
	recv  cipher.AEAD // the peer to this instance
	count atomic.Uint64
	b     *Bridge
	limit int // the largest datagram to addr (datagramLimit)

	outMu  sync.Mutex
	open   *bridgeBatch   // the datagram Send fills; nil until the next Send
	full   []*bridgeBatch // filled before open, waiting for the flusher in order
	spare  []*bridgeBatch // full's next backing array, handed back by the flusher
	queued bool           // the peer waits for the flusher
	due    time.Time      // when the flusher is to send (zero: at once); set when queued

	waiting bool // the flusher holds the peer in its list (used by the flusher only)

	// Used by the socket's reader only.
	highest uint64
	seen    uint64 // bit i: highest-i was seen
}

// ListenBridge opens the bridge of instance self on addr (host:port) and
// reads it on a goroutine of its own; secret is the cluster secret every
// instance shares.
func ListenBridge(addr, self, secret string, sink BridgeSink, log *slog.Logger) (*Bridge, error) {
	return ListenBridgeWith(nil, addr, self, secret, sink, log)
}

// ListenBridgeWith is ListenBridge with the socket opened and read by
// listen, if it can (addr an IP address and port, and listen without an
// error); otherwise, or with listen nil, the bridge reads its own socket.
func ListenBridgeWith(listen BridgeListener, addr, self, secret string, sink BridgeSink, log *slog.Logger) (*Bridge, error) {
	if len(secret) < 16 {
		return nil, errors.New("media bridge: the cluster secret must be at least 16 characters")
	}
	b := &Bridge{self: self, tag: instanceTag(self), secret: []byte(secret), sink: sink, log: log,
		done: make(chan struct{}), flushes: make(chan *BridgePeer, flushQueue),
		stop: make(chan struct{}), flusherDone: make(chan struct{})}
	b.batches.New = func() any { return new(bridgeBatch) }
	b.sendBufs.New = func() any { return new([][]byte) }
	empty := map[uint64]*BridgePeer{}
	b.peers.Store(&empty)
	if err := b.listen(listen, addr); err != nil {
		return nil, err
	}
	go b.flusher()
	return b, nil
}

// listen opens the bridge's socket, with listen if it can, else its own read
// by a goroutine of the bridge's.
func (b *Bridge) listen(listen BridgeListener, addr string) error {
	if listen != nil {
		ap, err := netip.ParseAddrPort(addr)
		if err == nil {
			if b.conn, err = listen(ap, b.deliver); err == nil {
				close(b.done) // no read goroutine of the bridge's own
				return nil
			}
		}
		b.log.Info("media bridge read on a goroutine of its own", "addr", addr, "reason", err)
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return fmt.Errorf("media bridge address %q: %w", addr, err)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return fmt.Errorf("media bridge: %w", err)
	}
	b.conn = ownSocket{conn}
	go b.read(conn)
	return nil
}

// ownSocket is the bridge's socket when it reads it itself.
type ownSocket struct{ *net.UDPConn }

func (s ownSocket) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return s.WriteToUDPAddrPort(b, addr)
}

// SetHold sets how long a peer's first record may wait for others to share
// its datagram (0, the default: until the poll that sent it ends); Send's
// records opened after the call wait that long at most, SendNow's never.
// Safe for concurrent use.
func (b *Bridge) SetHold(d time.Duration) { b.hold.Store(int64(max(d, 0))) }

// Addr is the address the bridge listens on.
func (b *Bridge) Addr() netip.AddrPort { return b.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Dropped counts the datagrams the bridge refused, and authentic ones with a
// record cut short (whose records before it were delivered).
func (b *Bridge) Dropped() uint64 { return b.dropped.Load() }

// BridgeStats are a bridge's counts of datagrams since it started.
type BridgeStats struct {
	Sent       uint64 // written to other instances
	SendFailed uint64 // the socket refused them (the other instance's packets are lost)
	Received   uint64 // from other instances, opened
	Dropped    uint64 // refused: not authentic, replayed, another format version, or cut short
}

// Stats returns the bridge's counts. Safe for concurrent use.
func (b *Bridge) Stats() BridgeStats {
	return BridgeStats{Sent: b.sent.Load(), SendFailed: b.sendFails.Load(),
		Received: b.datagrams.Load(), Dropped: b.dropped.Load()}
}

// AddPeer sets up the link to instance id, whose bridge listens on addr, and
// returns it (the same one if it exists).
func (b *Bridge) AddPeer(id string, addr netip.AddrPort) (*BridgePeer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := *b.peers.Load()
	if p := old[instanceTag(id)]; p != nil && p.id == id && p.addr == addr {
		return p, nil
	}
	send, err := b.aead(b.self, id)
	if err != nil {
		return nil, err
	}
	recv, err := b.aead(id, b.self)
	if err != nil {
		return nil, err
	}
	p := &BridgePeer{id: id, addr: addr, send: send, recv: recv, b: b, limit: datagramLimit(addr)}
	next := make(map[uint64]*BridgePeer, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[instanceTag(id)] = p
	b.peers.Store(&next)
	return p, nil
}

// RemovePeer drops the link to instance id (it died or left).
func (b *Bridge) RemovePeer(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := *b.peers.Load()
	next := make(map[uint64]*BridgePeer, len(old))
	for k, v := range old {
		if v.id != id {
			next[k] = v
		}
	}
	b.peers.Store(&next)
}

// aead derives the key of the direction from one instance to another.
func (b *Bridge) aead(from, to string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, b.secret, []byte("tandem media bridge v1"), from+" -> "+to, 32)
	if err != nil {
		return nil, fmt.Errorf("media bridge key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("media bridge key: %w", err)
	}
	return cipher.NewGCM(block)
}

// deliver is the BridgeListener's callback: one datagram, opened in place.
func (b *Bridge) deliver(d []byte, _ netip.AddrPort) { b.open(d) }

// read is the bridge's read goroutine when it reads its own socket.
func (b *Bridge) read(conn *net.UDPConn) {
	defer close(b.done)
	var buf [maxDatagram + 1]byte
	for {
		n, _, err := conn.ReadFromUDPAddrPort(buf[:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			b.log.Debug("media bridge read", "err", err)
			continue
		}
		b.open(buf[:n])
	}
}

// open checks and decrypts one datagram in place and hands it to the sink.
func (b *Bridge) open(d []byte) {
	if len(d) < bridgeHeaderLen+gcmTagLen || len(d) > maxDatagram || d[0] != bridgeVersion {
		b.dropped.Add(1)
		return
	}
	p := (*b.peers.Load())[binary.BigEndian.Uint64(d[1:9])]
	count := binary.BigEndian.Uint64(d[9:17])
	if p == nil || !p.fresh(count) {
		b.dropped.Add(1)
		return
	}
	binary.BigEndian.PutUint64(b.nonce[4:], count)
	plain, err := p.recv.Open(d[17:17], b.nonce[:], d[17:], d[:bridgeHeaderLen])
	if err != nil {
		b.dropped.Add(1)
		return
	}
	p.mark(count)
	b.datagrams.Add(1)
	if !b.records(p.id, plain) {
		b.dropped.Add(1) // authentic, so a sender's bug: what came before the bad record was delivered
	}
}

// fresh reports whether count is new: above the highest seen, or within the
// window and not seen. Called by the socket's reader.
func (p *BridgePeer) fresh(count uint64) bool {
	if count == 0 {
		return false
	}
	if count > p.highest {
		return true
	}
	behind := p.highest - count
	return behind < replayWindow && p.seen&(1<<behind) == 0
}

// mark records count as seen (after it opened). Called by the socket's reader.
func (p *BridgePeer) mark(count uint64) {
	if count > p.highest {
		shift := count - p.highest
		if shift >= replayWindow {
			p.seen = 0
		} else {
			p.seen <<= shift
		}
		p.seen |= 1
		p.highest = count
		return
	}
	p.seen |= 1 << (p.highest - count)
}

// Close stops the bridge and waits for its goroutines (a BridgeListener's
// reader may finish a datagram in progress after Close). Datagrams not yet
// flushed are dropped.
func (b *Bridge) Close() error {
	close(b.stop)
	<-b.flusherDone
	err := b.conn.Close()
	<-b.done
	return err
}

// instanceTag names an instance in 8 bytes.
func instanceTag(id string) uint64 {
	sum := sha256.Sum256([]byte(id))
	return binary.BigEndian.Uint64(sum[:8])
}
