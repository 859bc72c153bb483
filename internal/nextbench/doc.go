// Package nextbench measures Next where the user sees it: three headless
// Chromium instances on loopback (A talking with B, C waiting), A presses
// Next, and the page times the press until the first frame of the new
// partner is presented (requestVideoFrameCallback on the remote video; each
// partner's fake camera shows its own colour, so the page tells the new
// partner's frames from the old one's). The server's timeline of each switch
// (sfu.SwitchTimeline, from its debug log) is set beside it. For comparison
// the same run sets up fresh peer-to-peer calls between two of the same
// browsers (createOffer to the first remote frame).
//
// It is a benchmark, not a test that CI runs: `make nextbench` (root for a
// private network namespace, Chromium) runs TestNextbench with
// TANDEM_NEXTBENCH=1 and prints the figures; docs/performance.md records
// them.
package nextbench
