package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// measured is what a load run counted over its measured time.
type measured struct {
	elapsed   time.Duration
	received  uint64   // packets the clients received
	bridged   uint64   // of them, from a partner on another instance
	forwarded []uint64 // each instance's forwarded-packet counter; nil if not published
	cpu       cpuUse   // the -pid processes; zero if none given
}

// print writes the packet rates and the CPU per packet. Two divisors are given for the CPU:
// the servers' forwarded-packet counters (as for one server; a packet bridged between
// instances counts once on each), and the packets the clients received, which counts every
// packet once wherever it was forwarded: the honest divisor when instances are compared.
func (m measured) print(w io.Writer, cluster bool) {
	secs := m.elapsed.Seconds()
	fmt.Fprintf(w, "received packets/s (all clients): %.0f", float64(m.received)/secs)
	if cluster && m.received > 0 {
		fmt.Fprintf(w, ", %.1f %% of them from a partner on another instance (bridged)",
			100*float64(m.bridged)/float64(m.received))
	}
	fmt.Fprintln(w)
	var forwarded uint64
	for _, n := range m.forwarded {
		forwarded += n
	}
	if m.forwarded != nil {
		if len(m.forwarded) == 1 {
			fmt.Fprintf(w, "forwarded packets/s (server):     %.0f\n", float64(forwarded)/secs)
		} else {
			each := make([]string, len(m.forwarded))
			for i, n := range m.forwarded {
				each[i] = fmt.Sprintf("%.0f", float64(n)/secs)
			}
			fmt.Fprintf(w, "forwarded packets/s (servers' counters, a bridged packet counts on both): %s = %.0f\n",
				strings.Join(each, " + "), float64(forwarded)/secs)
		}
	} else {
		forwarded = m.received
	}
	if m.cpu.each == nil {
		return
	}
	cores := m.cpu.cpu.Seconds() / secs
	if forwarded > 0 {
		total, kernel := m.cpu.perPacket(forwarded)
		fmt.Fprintf(w, "server CPU per forwarded packet: %.1f µs, %.1f µs of it in the kernel (%.2f CPU cores)\n",
			total, kernel, cores)
	}
	if m.received > 0 {
		total, kernel := m.cpu.perPacket(m.received)
		each := make([]string, len(m.cpu.each))
		for i, d := range m.cpu.each {
			each[i] = fmt.Sprintf("%.2f", d.Seconds()/secs)
		}
		fmt.Fprintf(w, "server CPU per packet received by a client: %.1f µs, %.1f µs of it in the kernel (cores per process: %s)\n",
			total, kernel, strings.Join(each, " + "))
		fmt.Fprintf(w, "server context switches per 1000 packets received by a client: %.0f\n",
			1000*float64(m.cpu.switches)/float64(m.received))
	}
}
