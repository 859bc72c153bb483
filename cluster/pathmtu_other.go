//go:build !linux

package cluster

import "net/netip"

// pathMTU is the MTU assumed for the route to addr: Ethernet's.
func pathMTU(netip.AddrPort) int { return 1500 }
