package turn

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/tandemchat/tandem/internal/testlog"
)

// The namespace test runs a call between two namespaces it creates: the
// server side (TURN server and an answering peer) in one, and a relay-only
// client whose namespace drops all UDP in the other. Goroutines cannot
// change namespace safely, so each side is this test binary re-run under
// `ip netns exec` with netnsRoleEnv set (see TestMain). The parent relays
// their one-line messages: TURN (ICE servers), OFFER, ANSWER; the sides then
// report CONNECTED and GOT_RTP.

const (
	netnsRoleEnv   = "TANDEM_TURN_NETNS_ROLE"
	netnsSecretEnv = "TANDEM_TURN_NETNS_SECRET"
	netnsServerIP  = "10.231.0.1"
	netnsClientIP  = "10.231.0.2"
	netnsRoleLimit = 90 * time.Second
)

func TestCallWithUDPBlockedRelaysOverTURNTCP(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespace test needs root (ip netns, iptables); CI runs it as root")
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("network namespace test needs %s: %v", tool, err)
		}
	}
	srvNS, cliNS := makeNamespaces(t)
	run(t, "ip", "netns", "exec", cliNS, "iptables", "-A", "OUTPUT", "-p", "udp", "-j", "DROP")
	run(t, "ip", "netns", "exec", cliNS, "iptables", "-A", "INPUT", "-p", "udp", "-j", "DROP")

	ctx, cancel := context.WithTimeout(context.Background(), 2*netnsRoleLimit)
	defer cancel()
	server := startRole(ctx, t, srvNS, "server")
	client := startRole(ctx, t, cliNS, "client")

	client.send(t, "TURN", server.expect(t, "TURN"))
	server.send(t, "OFFER", client.expect(t, "OFFER"))
	client.send(t, "ANSWER", server.expect(t, "ANSWER"))
	if via := client.expect(t, "CONNECTED"); via != "relay tcp" {
		t.Errorf("client connected via %q, want a relay candidate over TCP", via)
	}
	server.expect(t, "GOT_RTP")
	client.finish(t)
	server.finish(t)
}

// makeNamespaces creates a server and a client namespace joined by a veth
// pair, and deletes both (and with them the veth) when the test ends.
func makeNamespaces(t *testing.T) (srv, cli string) {
	t.Helper()
	id := strconv.Itoa(os.Getpid())
	srv, cli = "tdts-"+id, "tdtc-"+id
	vs, vc := "tdvs"+id, "tdvc"+id
	if out, err := exec.Command("ip", "netns", "add", srv).CombinedOutput(); err != nil {
		t.Skipf("cannot create network namespaces here (%v: %s); CI can", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", srv).Run() })
	run(t, "ip", "netns", "add", cli)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", cli).Run() })
	run(t, "ip", "link", "add", vs, "netns", srv, "type", "veth", "peer", "name", vc, "netns", cli)
	run(t, "ip", "-n", srv, "addr", "add", netnsServerIP+"/24", "dev", vs)
	run(t, "ip", "-n", cli, "addr", "add", netnsClientIP+"/24", "dev", vc)
	for _, ns := range []string{srv, cli} {
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	run(t, "ip", "-n", srv, "link", "set", vs, "up")
	run(t, "ip", "-n", cli, "link", "set", vc, "up")
	return srv, cli
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// role is one side of the call, running in its namespace.
type role struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *testlog.Buffer
	done   chan error
}

func startRole(ctx context.Context, t *testing.T, ns, name string) *role {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), netnsRoleEnv+"="+name, netnsSecretEnv+"="+testSecret)
	r := &role{name: name, cmd: cmd, lines: make(chan string, 16), stderr: &testlog.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = r.stderr
	if r.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s role: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
		r.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = r.stdin.Close()
		_ = cmd.Process.Kill()
		for range r.lines { // drain so the reader goroutine can finish
		}
		<-r.done
		if t.Failed() {
			t.Logf("%s role log:\n%s", name, r.stderr.String())
		}
	})
	return r
}

// expect waits for the role's next line, which must start with word, and
// returns the rest of it.
func (r *role) expect(t *testing.T, word string) string {
	t.Helper()
	select {
	case line, ok := <-r.lines:
		if !ok {
			t.Fatalf("%s role ended before %s", r.name, word)
		}
		rest, found := strings.CutPrefix(line, word)
		if !found {
			t.Fatalf("%s role said %.200q, want %s", r.name, line, word)
		}
		return strings.TrimSpace(rest)
	case <-time.After(netnsRoleLimit):
		t.Fatalf("%s role: no %s within %v", r.name, word, netnsRoleLimit)
		return ""
	}
}

func (r *role) send(t *testing.T, word, payload string) {
	t.Helper()
	if _, err := fmt.Fprintf(r.stdin, "%s %s\n", word, payload); err != nil {
		t.Fatalf("send %s to %s role: %v", word, r.name, err)
	}
}

// finish closes the role's input, which tells it to end, and checks that it
// exits cleanly.
func (r *role) finish(t *testing.T) {
	t.Helper()
	_ = r.stdin.Close()
	for range r.lines {
	}
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		if err != nil {
			t.Errorf("%s role exited with %v", r.name, err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("%s role did not exit within 30 s of its input closing", r.name)
	}
}

// runNetnsRole plays one side of the namespace test; it returns the exit
// code. Messages go to stdout, logs to stderr.
func runNetnsRole(role string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64*1024), 1024*1024)
	var err error
	switch role {
	case "server":
		err = netnsServer(log, in)
	case "client":
		err = netnsClient(in)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		log.Error("role failed", "role", role, "err", err)
		return 1
	}
	return 0
}

// readMessage reads the next stdin line, which must start with word, and
// decodes its JSON rest into v.
func readMessage(in *bufio.Scanner, word string, v any) error {
	if !in.Scan() {
		return fmt.Errorf("input ended before %s: %v", word, in.Err())
	}
	rest, ok := strings.CutPrefix(in.Text(), word+" ")
	if !ok {
		return fmt.Errorf("got %.100q, want %s", in.Text(), word)
	}
	if err := json.Unmarshal([]byte(rest), v); err != nil {
		return fmt.Errorf("decode %s: %w", word, err)
	}
	return nil
}

func writeMessage(word string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Printf("%s %s\n", word, b)
	return err
}

// netnsServer runs the TURN server (its only allowed private peer is its
// own media address, as in production) and the answering peer.
func netnsServer(log *slog.Logger, in *bufio.Scanner) error {
	s, err := New(Config{
		Addr:         net.JoinHostPort(netnsServerIP, "0"),
		Secret:       os.Getenv(netnsSecretEnv),
		AllowedPeers: []net.IP{net.ParseIP(netnsServerIP)},
		MediaPorts:   anyPort, // the answering peer's port is ephemeral
	}, log)
	if err != nil {
		return err
	}
	defer s.Close()
	pc, err := newPeer(nil, false)
	if err != nil {
		return err
	}
	defer pc.Close()
	got := receiveRTP(pc)

	if err := writeMessage("TURN", s.ICEServers("netns-client", netnsServerIP)); err != nil {
		return err
	}
	var offer webrtc.SessionDescription
	if err := readMessage(in, "OFFER", &offer); err != nil {
		return err
	}
	answer, err := completeAnswer(pc, offer)
	if err != nil {
		return err
	}
	if err := writeMessage("ANSWER", answer); err != nil {
		return err
	}
	select {
	case <-got:
		fmt.Println("GOT_RTP")
	case <-time.After(netnsRoleLimit):
		return fmt.Errorf("no RTP within %v; TURN stats %+v", netnsRoleLimit, s.Stats())
	}
	for in.Scan() { // run until the parent closes our input
	}
	return nil
}

// netnsClient is the relay-only caller whose network drops UDP.
func netnsClient(in *bufio.Scanner) error {
	var servers []ICEServer
	if err := readMessage(in, "TURN", &servers); err != nil {
		return err
	}
	pc, err := newPeer(servers, true)
	if err != nil {
		return err
	}
	start, wait, err := sendVideo(pc)
	if err != nil {
		_ = pc.Close()
		return err
	}
	stop := make(chan struct{})
	defer func() {
		close(stop)
		_ = pc.Close()
		wait()
	}()
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})

	offer, err := completeOffer(pc)
	if err != nil {
		return err
	}
	if err := writeMessage("OFFER", offer); err != nil {
		return err
	}
	var answer webrtc.SessionDescription
	if err := readMessage(in, "ANSWER", &answer); err != nil {
		return err
	}
	if err := pc.SetRemoteDescription(answer); err != nil {
		return fmt.Errorf("set answer: %w", err)
	}
	start(stop)
	select {
	case <-connected:
	case <-time.After(netnsRoleLimit):
		return fmt.Errorf("not connected within %v", netnsRoleLimit)
	}
	local, err := selectedLocalCandidate(pc)
	if err != nil {
		return err
	}
	fmt.Printf("CONNECTED %s %s\n", local.CandidateType, local.RelayProtocol)
	for in.Scan() { // keep sending media until the parent closes our input
	}
	return nil
}
