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
	srv := livetest.Start(t, func(c *config.Config) {
		c.TURN.Addr = "127.0.0.1:0"
		c.TURN.AllowLoopback = true // the test's peer listens on loopback
	})
	addr, username, password := turnServerOf(t, livetest.MustDial(t, srv.WSURL))

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

	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
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
	deadline := time.Now().Add(livetest.WaitFor)
	for {
		got := value(scrape(t, srv, ""), "tandem_turn_relayed_bytes_total")
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("relayed bytes %v, want at least the datagram's %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
