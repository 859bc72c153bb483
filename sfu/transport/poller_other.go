//go:build !linux

package transport

import (
	"errors"
	"net"
)

// poller exists on Linux only (poller_linux.go); elsewhere every socket is a mediaConn.
type poller struct{}

// newPollers returns none: every socket is a mediaConn.
func newPollers() ([]*poller, error) { return nil, nil }

func (p *poller) close() error { return nil }

func (p *poller) sockets() int { return 0 }

// polledConn exists on Linux only.
type polledConn struct{ mediaConn }

func listenPolled(*poller, *net.UDPAddr, packetTaker) (*polledConn, error) {
	return nil, errors.New("no pollers on this system")
}
