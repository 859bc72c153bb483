package turn

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/tandemchat/tandem/internal/testlog"
)

// These tests check tandem's TURN against coturn, an independent
// implementation: coturn's client must relay through our server (and derive
// REST credentials from the secret exactly as we check them), and coturn's
// server must accept the credentials we hand out.

// startProcess starts a helper binary that runs until the test ends; it is
// killed and waited for in cleanup. Its output is kept for failure reports.
func startProcess(t testing.TB, name string, args ...string) (pid int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, name, args...)
	out := &testlog.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return cmd.Process.Pid
}

// startTurnutilsPeer starts coturn's UDP echo peer on 127.0.0.1 and waits
// until it echoes.
func startTurnutilsPeer(t testing.TB) *net.UDPAddr {
	t.Helper()
	port := freeUDPPort(t)
	startProcess(t, "turnutils_peer", "-L", "127.0.0.1", "-p", strconv.Itoa(port))
	addr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	buf := make([]byte, 64)
	waitFor(t, "turnutils_peer to echo", 15*time.Second, func() bool {
		if _, err := probe.WriteTo([]byte("ping"), addr); err != nil {
			return false
		}
		_ = probe.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, _, err := probe.ReadFrom(buf)
		return err == nil && string(buf[:n]) == "ping"
	})
	return addr
}

var uclientTotals = regexp.MustCompile(`tot_send_msgs=(\d+), tot_recv_msgs=(\d+)`)

// runUclient runs turnutils_uclient to completion and returns its exit code
// and output.
func runUclient(t testing.TB, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "turnutils_uclient", args...).CombinedOutput()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exitErr):
		return exitErr.ExitCode(), string(out)
	default:
		t.Fatalf("run turnutils_uclient: %v\n%s", err, out)
		return -1, ""
	}
}

func TestCoturnClientRelaysThroughOurServer(t *testing.T) {
	skipUnlessBinary(t, "turnutils_uclient", "turnutils_peer")
	s := newTestServer(t, Config{AllowLoopback: true, TLSAddr: "127.0.0.1:0", TLSConfig: testTLSConfig(t)})
	peer := startTurnutilsPeer(t)
	port := strconv.Itoa(s.udpAddr.Port)
	tlsPort := strconv.Itoa(s.tlsAddr.Port)
	user, pass := validCredentials(s, "coturn-client")
	s.ledger.issue("coturn-rest") // the -W cases derive credentials for this user from the secret

	cases := []struct {
		name  string
		port  string
		flags []string
	}{
		{"udp", port, []string{"-u", user, "-w", pass}},
		{"tcp", port, []string{"-t", "-u", user, "-w", pass}},
		{"tls", tlsPort, []string{"-t", "-S", "-u", user, "-w", pass}},
		// -W: the client derives the REST credentials from the secret itself.
		{"udp with REST secret", port, []string{"-u", "coturn-rest", "-W", testSecret}},
		{"tcp with REST secret", port, []string{"-t", "-u", "coturn-rest", "-W", testSecret}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Stats().RelayedBytes
			args := append([]string{"-p", tc.port, "-e", "127.0.0.1", "-r", strconv.Itoa(peer.Port),
				"-n", "20", "-l", "200", "-c", "-X"}, tc.flags...)
			code, out := runUclient(t, append(args, "127.0.0.1")...)
			all := uclientTotals.FindAllStringSubmatch(out, -1)
			if code != 0 || len(all) == 0 {
				t.Fatalf("turnutils_uclient exit %d, want 0 and totals; output:\n%s", code, out)
			}
			m := all[len(all)-1] // the final totals line
			sent, _ := strconv.Atoi(m[1])
			recv, _ := strconv.Atoi(m[2])
			if sent == 0 || recv != sent {
				t.Fatalf("turnutils_uclient sent %d, received %d; want all echoed\n%s", sent, recv, out)
			}
			if got := s.Stats().RelayedBytes - before; got < uint64(2*sent*200) {
				t.Errorf("server counted %d relayed bytes for %d echoed 200-byte messages", got, sent)
			}
		})
	}

	t.Run("wrong password", func(t *testing.T) {
		code, out := runUclient(t, "-p", port, "-e", "127.0.0.1", "-r", strconv.Itoa(peer.Port),
			"-n", "2", "-c", "-X", "-u", user, "-w", "wrong", "127.0.0.1")
		if code == 0 {
			t.Fatalf("turnutils_uclient with a wrong password exited 0:\n%s", out)
		}
	})
	t.Run("wrong REST secret", func(t *testing.T) {
		code, out := runUclient(t, "-p", port, "-e", "127.0.0.1", "-r", strconv.Itoa(peer.Port),
			"-n", "2", "-c", "-X", "-u", "coturn-rest", "-W", "not-the-secret", "127.0.0.1")
		if code == 0 {
			t.Fatalf("turnutils_uclient with a wrong REST secret exited 0:\n%s", out)
		}
	})
}

// startCoturn runs coturn's turnserver on 127.0.0.1 with the REST API
// secret and returns its listening address once it accepts TCP.
func startCoturn(t testing.TB, secret string) *net.UDPAddr {
	addr, _ := startCoturnPID(t, secret)
	return addr
}

// startCoturnPID is startCoturn that also returns the server's process id.
func startCoturnPID(t testing.TB, secret string) (*net.UDPAddr, int) {
	t.Helper()
	port := freeUDPPort(t)
	dir := t.TempDir()
	args := []string{"-n", "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1",
		"--listening-port", strconv.Itoa(port),
		"--use-auth-secret", "--static-auth-secret", secret, "--realm", DefaultRealm,
		"--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls", "--no-rfc5780",
		"--no-stun-backward-compatibility", "--log-file", "stdout", "--simple-log",
		"--pidfile", dir + "/turnserver.pid", "--db", dir + "/turndb"}
	pid := startProcess(t, "turnserver", args...)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitFor(t, "coturn to accept TCP", 15*time.Second, func() bool {
		c, err := net.DialTimeout("tcp4", addr, 100*time.Millisecond)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}, pid
}

func TestCoturnAcceptsOurCredentials(t *testing.T) {
	skipUnlessBinary(t, "turnserver")
	coturn := startCoturn(t, "shared-with-coturn")
	peer := echoPeer(t, "127.0.0.1:0")

	dial := func(user, pass string) (net.PacketConn, error) {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return newTURNClient(t, pc, coturn.String(), user, pass).Allocate()
	}

	user, pass := Credentials("shared-with-coturn", "alice", time.Now().Add(time.Hour))
	relay, err := dial(user, pass)
	if err != nil {
		t.Fatalf("coturn refused our credentials: %v", err)
	}
	defer relay.Close()
	if err := roundTrip(t, relay, peer.LocalAddr(), []byte("via coturn")); err != nil {
		t.Fatalf("relay through coturn: %v", err)
	}

	expUser, expPass := Credentials("shared-with-coturn", "alice", time.Now().Add(-time.Minute))
	if r, err := dial(expUser, expPass); err == nil {
		_ = r.Close()
		t.Errorf("coturn accepted expired credentials: our expiry is not coturn's")
	}
	badUser, badPass := Credentials("another-secret", "alice", time.Now().Add(time.Hour))
	if r, err := dial(badUser, badPass); err == nil {
		_ = r.Close()
		t.Errorf("coturn accepted credentials made with another secret")
	}
}
