package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// The plain UDP relay and its load are the floor the SFU's CPU per forwarded packet is compared
// with: the same packet sizes and rates as the synthetic Pion clients, but no ICE, DTLS, SRTP,
// RTCP or Pion pipeline, only one recvmsg and one sendto per relayed packet.
//
//	tandem-load -relay 127.0.0.1:3950                       # the relay (pin it like the server)
//	tandem-load -udp-relay 127.0.0.1:3950 -pairs 40 -pid P  # the load against it

// relayPairIDLen is the length of the pair number that starts every baseline packet.
const relayPairIDLen = 4

// serveRelay relays packets on conn until ctx ends. Every packet starts with its pair number
// (4 bytes, big endian); the first two sources that use a pair number become partners, and from
// then on each packet from one is sent to the other. One goroutine (the caller's) does all
// the work; it allocates nothing per packet once the pairs are known.
func serveRelay(ctx context.Context, conn *net.UDPConn) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	waiting := make(map[uint32]netip.AddrPort)         // pair number -> the first member seen
	partner := make(map[netip.AddrPort]netip.AddrPort) // both directions of every pair
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("relay read: %w", err)
		}
		to, ok := partner[from]
		if !ok {
			if n < relayPairIDLen {
				continue
			}
			id := binary.BigEndian.Uint32(buf)
			first, found := waiting[id]
			if !found {
				waiting[id] = from
				continue
			}
			if first == from {
				continue
			}
			delete(waiting, id)
			partner[first], partner[from] = from, first
			to = first
		}
		// A full socket buffer drops the packet, as a real relay would; keep going.
		_, _ = conn.WriteToUDPAddrPort(buf[:n], to)
	}
}

// runRelay serves the plain UDP relay on addr until ctx ends.
func runRelay(ctx context.Context, addr string) error {
	laddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return fmt.Errorf("relay address %q: %w", addr, err)
	}
	conn, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return fmt.Errorf("relay listen: %w", err)
	}
	fmt.Printf("relaying UDP on %s\n", conn.LocalAddr())
	return serveRelay(ctx, conn)
}

// relayClient sends video-sized and audio-sized packets to the relay at the synthetic Pion
// client's rates (a frame of bitrate/8/fps bytes in packets of at most 1100 bytes every 1/fps,
// an 80-byte audio packet every 20 ms) and counts the packets it receives from its partner.
type relayClient struct {
	conn     *net.UDPConn
	relay    netip.AddrPort
	pair     uint32
	received *atomic.Uint64
}

// send writes packets until ctx ends.
func (c *relayClient) send(ctx context.Context, bitrate, fps int) {
	video := time.NewTicker(time.Second / time.Duration(fps))
	defer video.Stop()
	audio := time.NewTicker(20 * time.Millisecond)
	defer audio.Stop()
	const maxPacket = 1100 + 12 // payload plus an RTP header's worth of bytes
	buf := make([]byte, maxPacket)
	binary.BigEndian.PutUint32(buf, c.pair)
	frameBytes := max(bitrate/8/fps, 32)
	for {
		select {
		case <-ctx.Done():
			return
		case <-audio.C:
			_, _ = c.conn.WriteToUDPAddrPort(buf[:80+12], c.relay)
		case <-video.C:
			for left := frameBytes; left > 0; left -= maxPacket - 12 {
				size := min(left, maxPacket-12) + 12
				_, _ = c.conn.WriteToUDPAddrPort(buf[:max(size, relayPairIDLen)], c.relay)
			}
		}
	}
}

// receive counts packets until the socket closes.
func (c *relayClient) receive() {
	buf := make([]byte, 1500)
	for {
		if _, _, err := c.conn.ReadFromUDPAddrPort(buf); err != nil {
			return
		}
		c.received.Add(1)
	}
}

// runUDPBaseline drives the plain relay at relayAddr with o.pairs pairs at o.bitrate and
// reports relayed packets per second and, given -pid, the relay's CPU per relayed packet.
func runUDPBaseline(ctx context.Context, o options, relayAddr string) error {
	relay, err := netip.ParseAddrPort(relayAddr)
	if err != nil {
		return fmt.Errorf("relay address %q: %w", relayAddr, err)
	}
	var received atomic.Uint64
	var clients []*relayClient
	sendCtx, stopSending := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { // stop the senders, close the sockets (ends the receivers), then wait
		stopSending()
		for _, c := range clients {
			c.conn.Close()
		}
		wg.Wait()
	}()
	for i := range 2 * o.pairs {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return fmt.Errorf("client socket: %w", err)
		}
		clients = append(clients, &relayClient{conn: conn, relay: relay, pair: uint32(i / 2), received: &received})
	}
	for _, c := range clients {
		wg.Add(2)
		go func() { defer wg.Done(); c.receive() }()
		go func() { defer wg.Done(); c.send(sendCtx, o.bitrate, o.fps) }()
	}
	fmt.Printf("%d UDP clients sending to %s; warming up %s\n", len(clients), relay, o.warmup)
	if !sleep(ctx, o.warmup) {
		return ctx.Err()
	}
	proc0, err := sampleProcs(o.pids)
	if err != nil {
		return err
	}
	n0, start := received.Load(), time.Now()
	if !sleep(ctx, o.duration) {
		return ctx.Err()
	}
	relayed, elapsed := received.Load()-n0, time.Since(start)
	fmt.Printf("\nplain UDP relay, %d pairs, %d bps video + audio per client, %d fps, %s measured\n",
		o.pairs, o.bitrate, o.fps, elapsed.Round(time.Millisecond))
	fmt.Printf("relayed packets/s: %.0f\n", float64(relayed)/elapsed.Seconds())
	if relayed == 0 {
		return errors.New("no packet came back through the relay")
	}
	if len(o.pids) > 0 {
		proc1, err := sampleProcs(o.pids)
		if err != nil {
			return err
		}
		use := cpuBetween(proc0, proc1)
		total, kernel := use.perPacket(relayed)
		fmt.Printf("relay CPU per relayed packet: %.1f µs, %.1f µs of it in the kernel (%.2f CPU cores)\n",
			total, kernel, use.cpu.Seconds()/elapsed.Seconds())
	}
	return nil
}
