// Package netbench measures calls under impaired network conditions, the way
// a user's call would go: the tandem server and two headless Chromium
// browsers each in a network namespace of their own, joined through the
// server's namespace by veth pairs, with bandwidth shaped by tbf and loss
// injected by iptables. Each condition is measured twice in the same run:
// through tandem, and with the same two browsers connected directly peer to
// peer (the baseline a call through tandem should match).
//
// It is a benchmark, not a test that CI runs: `make netbench` (root,
// iproute2, iptables, Chromium) runs TestNetbench with TANDEM_NETBENCH=1 and
// prints a table; docs/performance.md records it. Everything it touches is
// in namespaces it creates and deletes.
package netbench
