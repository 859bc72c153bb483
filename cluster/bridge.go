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
// additional data) the stream id (8 bytes) and the packet, and GCM's 16-byte
// tag. Instance ids are new with each process, so a direction's key is new
// with each pair of processes and a counter from 1 never repeats a nonce.
// The receiver drops what does not open, and counters it has seen or that
// are more than a window behind (replays).

const (
	bridgeVersion   = 1
	bridgeHeaderLen = 1 + 8 + 8
	streamIDLen     = 8
	// bridgeOverhead is what the bridge adds to a packet.
	bridgeOverhead = bridgeHeaderLen + streamIDLen + 16
	// MaxBridgedPacket is the largest packet the bridge carries.
	MaxBridgedPacket = 1500
	replayWindow     = 64
)

// BridgeSink takes the packets that arrive over the bridge. HandleBridged is
// called on the bridge's read goroutine, one packet at a time; pkt is valid
// only during the call.
type BridgeSink interface {
	HandleBridged(from string, stream uint64, pkt []byte)
}

// Bridge is this instance's end of the media bridge. Send (on a BridgePeer)
// is safe for concurrent use and allocates nothing; AddPeer and RemovePeer
// may be called at any time. The read goroutine is owned by the Bridge and
// ends with Close.
type Bridge struct {
	self   string
	tag    uint64 // instanceTag(self)
	secret []byte
	conn   *net.UDPConn
	sink   BridgeSink
	log    *slog.Logger

	mu    sync.Mutex                             // serialises AddPeer and RemovePeer
	peers atomic.Pointer[map[uint64]*BridgePeer] // by sender tag; replaced, never changed

	dropped atomic.Uint64 // datagrams that did not open, replays, unknown senders
	done    chan struct{}
	bufs    sync.Pool // *sendScratch for Send
	nonce   [12]byte  // open's, used by the read goroutine only
}

// sendScratch is one Send's buffers (a pointer to them goes to the AEAD, an
// interface, so they live on the heap, pooled).
type sendScratch struct {
	buf   [bridgeBufLen]byte
	nonce [12]byte
}

const bridgeBufLen = MaxBridgedPacket + bridgeOverhead

// BridgePeer is the link to one other instance.
type BridgePeer struct {
	id    string
	addr  netip.AddrPort
	send  cipher.AEAD // this instance to the peer
	recv  cipher.AEAD // the peer to this instance
	count atomic.Uint64
	b     *Bridge

	// Used by the read goroutine only.
	highest uint64
	seen    uint64 // bit i: highest-i was seen
}

// ListenBridge opens the bridge of instance self on addr (host:port); secret
// is the cluster secret every instance shares.
func ListenBridge(addr, self, secret string, sink BridgeSink, log *slog.Logger) (*Bridge, error) {
	if len(secret) < 16 {
		return nil, errors.New("media bridge: the cluster secret must be at least 16 characters")
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("media bridge address %q: %w", addr, err)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("media bridge: %w", err)
	}
	b := &Bridge{self: self, tag: instanceTag(self), secret: []byte(secret), conn: conn, sink: sink, log: log, done: make(chan struct{})}
	b.bufs.New = func() any { return new(sendScratch) }
	empty := map[uint64]*BridgePeer{}
	b.peers.Store(&empty)
	go b.read()
	return b, nil
}

// Addr is the address the bridge listens on.
func (b *Bridge) Addr() netip.AddrPort { return b.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Dropped counts the datagrams the bridge refused.
func (b *Bridge) Dropped() uint64 { return b.dropped.Load() }

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
	p := &BridgePeer{id: id, addr: addr, send: send, recv: recv, b: b}
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

// Send seals pkt for stream and writes it to the peer. It allocates
// nothing and takes no lock.
func (p *BridgePeer) Send(stream uint64, pkt []byte) error {
	if len(pkt) > MaxBridgedPacket {
		return fmt.Errorf("media bridge: a %d-byte packet is over %d", len(pkt), MaxBridgedPacket)
	}
	s := p.b.bufs.Get().(*sendScratch)
	defer p.b.bufs.Put(s)
	n := p.seal(s.buf[:], &s.nonce, stream, pkt)
	_, err := p.b.conn.WriteToUDPAddrPort(s.buf[:n], p.addr)
	return err
}

// seal writes the datagram for pkt into buf and returns its length.
func (p *BridgePeer) seal(buf []byte, nonce *[12]byte, stream uint64, pkt []byte) int {
	count := p.count.Add(1)
	buf[0] = bridgeVersion
	binary.BigEndian.PutUint64(buf[1:9], p.b.tag)
	binary.BigEndian.PutUint64(buf[9:17], count)
	binary.BigEndian.PutUint64(buf[17:25], stream)
	n := copy(buf[25:], pkt)
	binary.BigEndian.PutUint64(nonce[4:], count)
	sealed := p.send.Seal(buf[17:17], nonce[:], buf[17:25+n], buf[:bridgeHeaderLen])
	return bridgeHeaderLen + len(sealed)
}

// read is the bridge's read goroutine.
func (b *Bridge) read() {
	defer close(b.done)
	var buf [bridgeBufLen + 1]byte
	for {
		n, _, err := b.conn.ReadFromUDPAddrPort(buf[:])
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
	if len(d) < bridgeOverhead || len(d) > bridgeBufLen || d[0] != bridgeVersion {
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
	b.sink.HandleBridged(p.id, binary.BigEndian.Uint64(plain[:streamIDLen]), plain[streamIDLen:])
}

// fresh reports whether count is new: above the highest seen, or within the
// window and not seen. Called on the read goroutine.
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

// mark records count as seen (after it opened). Called on the read goroutine.
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

// Close stops the bridge and waits for its read goroutine.
func (b *Bridge) Close() error {
	err := b.conn.Close()
	<-b.done
	return err
}

// instanceTag names an instance in 8 bytes.
func instanceTag(id string) uint64 {
	sum := sha256.Sum256([]byte(id))
	return binary.BigEndian.Uint64(sum[:8])
}
