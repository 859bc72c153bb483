package netbench

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The topology: the sender's namespace (a) and the receiver's (b) each reach
// the server's namespace over a veth pair; the server's namespace forwards
// between them, so a peer-to-peer call takes the same links as a call
// through the server.
//
//	a: 10.77.1.2 ── 10.77.1.1 :srv: 10.77.2.1 ── 10.77.2.2 :b
const (
	srvAddrA = "10.77.1.1" // the server's address on the sender's link
	sndAddr  = "10.77.1.2"
	srvAddrB = "10.77.2.1" // the server's address on the receiver's link
	rcvAddr  = "10.77.2.2"
)

// topology is the three namespaces and the interface names a condition
// shapes.
type topology struct {
	srv, snd, rcv string // namespace names
	srvToRcv      string // in srv: the receiver's downlink leaves here
	sndToSrv      string // in snd: the sender's uplink leaves here
	rcvToSrv      string // in rcv
}

// newTopology creates the namespaces and links; they are deleted when the
// test ends.
func newTopology(t *testing.T) *topology {
	t.Helper()
	id := fmt.Sprint(os.Getpid() % 100000)
	tp := &topology{srv: "nbs-" + id, snd: "nba-" + id, rcv: "nbb-" + id,
		srvToRcv: "nbsb" + id, sndToSrv: "nbas" + id, rcvToSrv: "nbbs" + id}
	srvToSnd := "nbsa" + id
	for _, ns := range []string{tp.srv, tp.snd, tp.rcv} {
		sh(t, "ip", "netns", "add", ns)
		ns := ns
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	link := func(srvIf, cliIf, cliNS, srvIP, cliIP string) {
		sh(t, "ip", "link", "add", srvIf, "netns", tp.srv, "type", "veth", "peer", "name", cliIf, "netns", cliNS)
		sh(t, "ip", "-n", tp.srv, "addr", "add", srvIP+"/24", "dev", srvIf)
		sh(t, "ip", "-n", cliNS, "addr", "add", cliIP+"/24", "dev", cliIf)
		sh(t, "ip", "-n", tp.srv, "link", "set", srvIf, "up")
		sh(t, "ip", "-n", cliNS, "link", "set", cliIf, "up")
		sh(t, "ip", "-n", cliNS, "route", "add", "default", "via", srvIP)
	}
	link(srvToSnd, tp.sndToSrv, tp.snd, srvAddrA, sndAddr)
	link(tp.srvToRcv, tp.rcvToSrv, tp.rcv, srvAddrB, rcvAddr)
	sh(t, "ip", "netns", "exec", tp.srv, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	return tp
}

// condition is one network impairment, applied before a call and removed
// after it.
type condition struct {
	name  string
	apply func(t *testing.T, tp *topology)
	// capKbps is the bandwidth limit on the sender-to-receiver path, 0 for none.
	capKbps int
}

// conditions are the ones the issue names: clean, the receiver's downlink
// limited, random loss on what the receiver gets, loss both ways, the
// sender's uplink limited.
var conditions = []condition{
	{name: "clean", apply: func(*testing.T, *topology) {}},
	{name: "receiver downlink 600 kbit/s", capKbps: 600, apply: func(t *testing.T, tp *topology) {
		shapeEgress(t, tp.srv, tp.srvToRcv, 600)
	}},
	{name: "3 % loss into the receiver", apply: func(t *testing.T, tp *topology) {
		dropUDP(t, tp.rcv, "INPUT", 0.03)
	}},
	{name: "3 % loss both ways", apply: func(t *testing.T, tp *topology) {
		dropUDP(t, tp.rcv, "INPUT", 0.03)
		dropUDP(t, tp.rcv, "OUTPUT", 0.03)
	}},
	{name: "sender uplink 600 kbit/s", capKbps: 600, apply: func(t *testing.T, tp *topology) {
		shapeEgress(t, tp.snd, tp.sndToSrv, 600)
	}},
}

// shapeEgress limits what leaves dev in ns to kbps (tbf) until the test
// ends.
func shapeEgress(t *testing.T, ns, dev string, kbps int) {
	t.Helper()
	sh(t, "ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root",
		"tbf", "rate", fmt.Sprintf("%dkbit", kbps), "burst", "32kbit", "latency", "200ms")
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", dev, "root").Run() })
}

// dropUDP drops UDP packets of ns's chain (INPUT or OUTPUT) at random with
// probability p until the test ends.
func dropUDP(t *testing.T, ns, chain string, p float64) {
	t.Helper()
	rule := []string{"-p", "udp", "-m", "statistic", "--mode", "random", "--probability", fmt.Sprint(p), "-j", "DROP"}
	sh(t, "ip", append([]string{"netns", "exec", ns, "iptables", "-A", chain}, rule...)...)
	t.Cleanup(func() {
		_ = exec.Command("ip", append([]string{"netns", "exec", ns, "iptables", "-D", chain}, rule...)...).Run()
	})
}

// sh runs a command, failing the test with its output if it fails.
func sh(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}
