package sfu

import (
	"fmt"
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/tandemchat/tandem/internal/pionlog"
)

// settingEngine turns the network part of Config into a Pion SettingEngine, opening the muxed
// UDP port and the ICE-TCP listener when configured (stored in s for Close).
func (s *SFU) settingEngine() (webrtc.SettingEngine, error) {
	var se webrtc.SettingEngine
	se.LoggerFactory = pionlog.New(s.log)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)

	ipFilter, loopbackOnly, networks := s.ipSelection()
	if ipFilter != nil {
		se.SetIPFilter(ipFilter)
	}
	if loopbackOnly {
		se.SetIncludeLoopbackCandidate(true)
	}
	if s.cfg.PublicIP != "" {
		err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        []string{s.cfg.PublicIP},
			AsCandidateType: webrtc.ICECandidateTypeHost,
		})
		if err != nil {
			return se, fmt.Errorf("public ip %s: %w", s.cfg.PublicIP, err)
		}
	}

	if s.cfg.UDPMuxPort > 0 {
		opts := []ice.UDPMuxFromPortOption{
			ice.UDPMuxFromPortWithNetworks(toICENetworks(networks)...),
			ice.UDPMuxFromPortWithNet(s.transport.MuxNet()), // its sockets are polled
		}
		if ipFilter != nil {
			opts = append(opts, ice.UDPMuxFromPortWithIPFilter(ipFilter))
		}
		if loopbackOnly {
			opts = append(opts, ice.UDPMuxFromPortWithLoopback())
		}
		mux, err := ice.NewMultiUDPMuxFromPort(s.cfg.UDPMuxPort, opts...)
		if err != nil {
			return se, fmt.Errorf("open udp mux port %d: %w", s.cfg.UDPMuxPort, err)
		}
		s.udpMux = mux
		se.SetICEUDPMux(mux)
	} else if s.cfg.UDPPortMin != 0 || s.cfg.UDPPortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(s.cfg.UDPPortMin, s.cfg.UDPPortMax); err != nil {
			return se, fmt.Errorf("udp port range %d-%d: %w", s.cfg.UDPPortMin, s.cfg.UDPPortMax, err)
		}
	}

	if s.cfg.TCPPort > 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(s.tcpListenHost(), fmt.Sprint(s.cfg.TCPPort)))
		if err != nil {
			return se, fmt.Errorf("open ice tcp port %d: %w", s.cfg.TCPPort, err)
		}
		// A write buffer (grown on demand, up to 1 MB per connection) so one slow TCP client
		// drops packets instead of blocking its partner's forwarding goroutine.
		s.tcpMux = ice.NewTCPMuxDefault(ice.TCPMuxParams{
			Listener: ln, ReadBufferSize: 32, WriteBufferSize: 1 << 20,
			Logger: pionlog.New(s.log).NewLogger("ice-tcp"),
		})
		se.SetICETCPMux(s.tcpMux)
		networks = append(networks, webrtc.NetworkTypeTCP4)
		if hasIPv6(s.cfg.ICEIPs) {
			networks = append(networks, webrtc.NetworkTypeTCP6)
		}
	}
	se.SetNetworkTypes(networks)
	return se, nil
}

// ipSelection derives the IP filter, whether only loopback addresses were asked for, and the
// UDP network types from Config.ICEIPs.
func (s *SFU) ipSelection() (filter func(net.IP) bool, loopbackOnly bool, networks []webrtc.NetworkType) {
	if len(s.cfg.ICEIPs) == 0 {
		return nil, false, []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	}
	allowed := make([]net.IP, 0, len(s.cfg.ICEIPs))
	loopbackOnly = true
	for _, str := range s.cfg.ICEIPs {
		ip := net.ParseIP(str)
		allowed = append(allowed, ip)
		if !ip.IsLoopback() {
			loopbackOnly = false
		}
	}
	filter = func(ip net.IP) bool {
		for _, a := range allowed {
			if a.Equal(ip) {
				return true
			}
		}
		return false
	}
	networks = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	if hasIPv6(s.cfg.ICEIPs) {
		networks = append(networks, webrtc.NetworkTypeUDP6)
	}
	return filter, loopbackOnly, networks
}

// tcpListenHost is the address the ICE-TCP listener binds: the only ICE IP if there is exactly
// one, otherwise all interfaces.
func (s *SFU) tcpListenHost() string {
	if len(s.cfg.ICEIPs) == 1 {
		return s.cfg.ICEIPs[0]
	}
	return ""
}

func hasIPv6(ips []string) bool {
	for _, str := range ips {
		if ip := net.ParseIP(str); ip != nil && ip.To4() == nil {
			return true
		}
	}
	return false
}

func toICENetworks(networks []webrtc.NetworkType) []ice.NetworkType {
	out := make([]ice.NetworkType, 0, len(networks))
	for _, n := range networks {
		switch n {
		case webrtc.NetworkTypeUDP4:
			out = append(out, ice.NetworkTypeUDP4)
		case webrtc.NetworkTypeUDP6:
			out = append(out, ice.NetworkTypeUDP6)
		}
	}
	return out
}
