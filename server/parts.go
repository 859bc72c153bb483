package server

import (
	"fmt"
	"net"
	"time"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/moderation"
	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/turn"
)

// mediaConfig maps the configuration onto the SFU's settings.
func mediaConfig(cfg config.Config) sfu.Config {
	m := cfg.Media
	floor := int64(m.VideoFloorKbps) * 1000
	if floor == 0 {
		floor = -1 // the SFU's "never pause"
	}
	return sfu.Config{
		ICEIPs:            m.ICEIPs,
		PublicIP:          m.PublicIP,
		UDPPortMin:        m.UDPPorts.Min,
		UDPPortMax:        m.UDPPorts.Max,
		UDPMuxPort:        m.UDPMuxPort,
		TCPPort:           m.TCPPort,
		VideoCodec:        m.VideoCodec,
		DisconnectTimeout: m.DisconnectTimeout,
		VideoFloor:        floor,
		SwitchLowLatency:  switchLowLatency(m.SwitchLowLatency),
		SwitchFromCache:   m.SwitchFromCache,
	}
}

// switchLowLatency maps the configuration's window (0 or less: off) onto the SFU's (0 is
// its default, negative off).
func switchLowLatency(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// moderationConfig maps the configuration onto the moderation rules.
func moderationConfig(cfg config.Config) moderation.Config {
	m := cfg.Moderation
	return moderation.Config{
		DataDir:            m.DataDir,
		ReportThreshold:    m.ReportThreshold,
		ReportWindow:       m.ReportWindow,
		BanDuration:        m.BanDuration,
		BanEscalation:      m.BanEscalation,
		BanMax:             m.BanMax,
		Retention:          m.Retention,
		IPHashKey:          m.IPHashKey,
		StaticBans:         m.Bans,
		LowTrustPercent:    m.LowTrustPercent,
		LowTrustMinReports: m.LowTrustMinReports,
	}
}

// turnConfig maps the configuration onto the TURN server's settings. The
// SFU's own addresses are always allowed as relay peers, so a relayed
// browser can reach the SFU even when it sits on a private address.
func turnConfig(cfg config.Config) (turn.Config, error) {
	t := cfg.TURN
	peers, err := mediaAddresses(cfg.Media)
	if err != nil {
		return turn.Config{}, err
	}
	return turn.Config{
		Addr:                  t.Addr,
		PublicIP:              cfg.Media.PublicIP,
		RelayPortMin:          t.RelayPorts.Min,
		RelayPortMax:          t.RelayPorts.Max,
		Secret:                t.Secret,
		CredentialTTL:         t.CredentialTTL,
		AllowLoopback:         t.AllowLoopback,
		AllowedPeers:          peers,
		MediaPorts:            mediaPorts(cfg.Media),
		MaxAllocationsPerUser: t.MaxAllocationsPerUser,
		AllocationsPerIP:      t.AllocationsPerIP,
		MaxAllocations:        t.AllocationsTotal,
		CredentialGrace:       t.CredentialGrace,
		ExternalURLs:          t.ExternalURLs,
	}, nil
}

// mediaPorts lists the UDP ports the SFU takes media on: the muxed port, or else the range.
// They are the only ports the TURN relay reaches.
func mediaPorts(m config.Media) []turn.PortRange {
	if m.UDPMuxPort != 0 {
		p := uint16(m.UDPMuxPort)
		return []turn.PortRange{{Min: p, Max: p}}
	}
	return []turn.PortRange{{Min: uint16(m.UDPPorts.Min), Max: uint16(m.UDPPorts.Max)}}
}

// mediaAddresses lists the IPs the SFU takes media on: the configured ICE
// IPs and public IP, or every non-loopback address of this host when ICE
// uses them all (loopback is allowed only when configured explicitly, so the
// relay cannot reach services listening on this host's loopback).
func mediaAddresses(m config.Media) ([]net.IP, error) {
	var ips []net.IP
	for _, s := range m.ICEIPs {
		ips = append(ips, net.ParseIP(s))
	}
	if len(ips) == 0 {
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return nil, fmt.Errorf("list interface addresses: %w", err)
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
				ips = append(ips, n.IP)
			}
		}
	}
	if m.PublicIP != "" {
		ips = append(ips, net.ParseIP(m.PublicIP))
	}
	return ips, nil
}
