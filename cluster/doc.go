// Package cluster lets several tandem instances share one crowd through
// Redis. It owns what the instances share: the waiting queue (Queue: the same
// pairing rules as signaling's in-memory Matchmaker, first come, first
// served, a shared interest first, no immediate re-pair, blocks, users one
// of whom reported the other kept apart in every visit, the low-trust pool,
// made atomic by a Lua script, so a user waiting on one
// instance can be paired with a user on another), the registry of live
// instances (Registry: a heartbeat key per instance, and one survivor told
// of each instance that died), and the bus that carries messages about a
// user to the instance holding it (Bus: a Redis stream per instance, read in
// order, nothing lost or read twice). Every key lives under one hash tag
// (Prefix), so a Redis Cluster keeps them in one slot. Media between
// instances goes over the Bridge: one UDP link per pair of instances,
// each datagram sealed with AES-256-GCM under a key derived from the
// cluster secret for its direction, replays refused, nothing allocated per
// packet (bridge.go).
//
// The moderation record the instances share (reports, bans, audit log, and
// the channel telling each instance of the others' changes) is not here but
// in package moderation/redisstore, under the same prefix, since this
// package imports nothing of tandem's.
//
// Cluster mode is on when Config.RedisURL is set (config.go). The server
// then matches every user through the Queue (signaling's hub, in its
// cluster.go: a pair of one instance is paired there, a pair across two gets
// a room on each, and chat, typing and partner_left go over the Bus), keeps
// this instance in the Registry and buries dead ones (server/cluster.go),
// and carries the media of pairs across instances over the Bridge
// (server/bridge.go, feeding the SFU's bridged peers, sfu/bridged.go).
package cluster
