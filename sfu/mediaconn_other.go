//go:build !linux

package sfu

import "net"

// newPacketIO returns the net package's I/O: raw system calls are used on Linux only.
func newPacketIO(udp *net.UDPConn) packetIO { return netIO{udp: udp} }
