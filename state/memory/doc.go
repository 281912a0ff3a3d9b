// Package memory keeps the gateway's shared state (package state) in the
// process: right for a single replica, and the local fallback of the Redis
// backend when it fails open. Every operation takes one short lock and
// never blocks on I/O.
package memory
