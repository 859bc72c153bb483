package metrics_test

import (
	"net"
	"strings"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v5"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/livetest"
)

// turnServerOf returns the UDP TURN address and the credentials of a
// client's welcome message.
func turnServerOf(t *testing.T, c *livetest.Client) (addr, username, password string) {
	t.Helper()
	var w struct {
		ICEServers []struct {
			URLs       []string `json:"urls"`
			Username   string   `json:"username"`
			Credential string   `json:"credential"`
		} `json:"iceServers"`
	}
	c.Welcome.Decode(t, &w)
	for _, s := range w.ICEServers {
		for _, u := range s.URLs {
			if rest, ok := strings.CutPrefix(u, "turn:"); ok && strings.HasSuffix(rest, "?transport=udp") {
				return strings.TrimSuffix(rest, "?transport=udp"), s.Username, s.Credential
			}
		}
	}
	t.Fatalf("no TURN over UDP in welcome: %s", c.Welcome.Data)
	return "", "", ""
}

func TestTURNMetricsMoveWithAllocationsAndRelayedBytes(t *testing.T) {
	// The test's peer stands in for a media socket: the media port range is its port alone
	// (the relay reaches nothing else), and no PeerConnection is made to take it.
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peerPort := uint16(peer.LocalAddr().(*net.UDPAddr).Port)
	srv := livetest.Start(t, func(c *config.Config) {
		c.TURN.Addr = "127.0.0.1:0"
		c.TURN.AllowLoopback = true // the peer listens on loopback
		c.TURN.CredentialGrace = 100 * time.Millisecond
		c.Media.UDPPorts = config.PortRange{Min: peerPort, Max: peerPort}
	})
	session := livetest.MustDial(t, srv.WSURL)
	addr, username, password := turnServerOf(t, session)

	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	client, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: username, Password: password, Realm: "tandem",
	})
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); conn.Close() })
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := client.Allocate()
	if err != nil {
		t.Fatalf("allocate with the welcome's credentials: %v", err)
	}
	defer relay.Close()
	if got := value(scrape(t, srv, ""), "tandem_turn_allocations"); got != 1 {
		t.Fatalf("allocations %v, want 1", got)
	}

	if _, err := relay.WriteTo([]byte("hello through the relay"), peer.LocalAddr()); err != nil {
		t.Fatalf("send through the relay: %v", err)
	}
	peer.SetReadDeadline(time.Now().Add(livetest.WaitFor))
	buf := make([]byte, 100)
	if n, _, err := peer.ReadFrom(buf); err != nil || string(buf[:n]) != "hello through the relay" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
	// The relay counts the datagram after its write returns, which may be
	// after the peer read it: poll.
	want := float64(len("hello through the relay"))
	waitMetric(t, srv, "relayed bytes", func(m map[string]float64) bool { return m["relayed"] >= want })

	// A port that is not a media port: dropped and counted.
	if _, err := relay.WriteTo([]byte("probe"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, srv, "a dropped datagram", func(m map[string]float64) bool { return m["dropped"] == 1 })

	// The session ends: its credentials stop and its allocation closes.
	session.Close()
	waitMetric(t, srv, "the ended session's allocation to close", func(m map[string]float64) bool {
		return m["allocations"] == 0
	})
}

// waitMetric scrapes srv until cond holds for the TURN metrics (relayed, dropped,
// allocations), or fails after livetest.WaitFor.
func waitMetric(t *testing.T, srv *livetest.Server, what string, cond func(map[string]float64) bool) {
	t.Helper()
	deadline := time.Now().Add(livetest.WaitFor)
	for {
		fams := scrape(t, srv, "")
		m := map[string]float64{
			"relayed":     value(fams, "tandem_turn_relayed_bytes_total"),
			"dropped":     value(fams, "tandem_turn_datagrams_dropped_total"),
			"allocations": value(fams, "tandem_turn_allocations"),
		}
		if cond(m) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
