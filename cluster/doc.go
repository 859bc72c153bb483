// Package cluster lets several tandem instances share one crowd through
// Redis. So far it owns the shared waiting queue (Queue): the same pairing
// rules as signaling's in-memory Matchmaker (first come, first served; a
// shared interest first; no immediate re-pair; blocks; the low-trust pool),
// made atomic by a Lua script, so a user waiting on one instance can be
// paired with a user on another.
package cluster
