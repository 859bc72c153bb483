package turn

import (
	"net"
	"strconv"
)

// ICEServer is one RTCIceServer entry as the browser's RTCPeerConnection
// and the welcome message expect it.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// ICEServers returns the RTCIceServer list for one user: the embedded
// server's turn:HOST:PORT?transport=udp and ?transport=tcp URLs (and
// turns:HOST:TLSPORT?transport=tcp when TLS is on), or the external URLs
// when configured, all with credentials valid for userID for CredentialTTL.
//
// HOST is PublicIP if set, else host (the Host the client used to reach
// tandem; a port in it is ignored). The turns: URL prefers host over
// PublicIP because TLS certificates name hosts, not IPs. It returns nil on
// a nil *Server, for an empty userID, or when the embedded server is off
// and no external URLs are configured. The embedded server accepts the
// credentials until Release(userID) and its grace period; an external
// server until they expire. Safe for concurrent use.
func (s *Server) ICEServers(userID, host string) []ICEServer {
	if s == nil || userID == "" {
		return nil
	}
	username, password := Credentials(s.secret, userID, s.now().Add(s.cfg.CredentialTTL))
	if len(s.cfg.ExternalURLs) > 0 {
		urls := append([]string(nil), s.cfg.ExternalURLs...)
		return []ICEServer{{URLs: urls, Username: username, Credential: password}}
	}
	if s.udpAddr == nil {
		return nil
	}
	s.ledger.issue(userID)

	clientHost := hostOnly(host)
	turnHost := s.cfg.PublicIP
	if turnHost == "" {
		turnHost = clientHost
	}
	if turnHost == "" {
		turnHost = s.relayIP.String()
	}
	urls := []string{
		"turn:" + net.JoinHostPort(turnHost, strconv.Itoa(s.udpAddr.Port)) + "?transport=udp",
		"turn:" + net.JoinHostPort(turnHost, strconv.Itoa(s.tcpAddr.Port)) + "?transport=tcp",
	}
	if s.tlsAddr != nil {
		tlsHost := clientHost
		if tlsHost == "" {
			tlsHost = turnHost
		}
		urls = append(urls, "turns:"+net.JoinHostPort(tlsHost, strconv.Itoa(s.tlsAddr.Port))+"?transport=tcp")
	}
	return []ICEServer{{URLs: urls, Username: username, Credential: password}}
}
