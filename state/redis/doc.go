// Package redis keeps the gateway's shared state (package state) in Redis,
// so that every replica of a fleet enforces the same rate limits,
// concurrency caps and budgets and backs off the same upstreams.
//
// Every read-modify-write is one Lua script, executed atomically by Redis,
// and every timestamp comes from the Redis server's clock (TIME), so that
// replicas with skewed clocks agree. Concurrency slots and budget
// reservations are leases with an expiry that a background loop renews
// while the request runs: a replica that dies frees its slots and
// reservations within the lease time.
//
// When Redis cannot be reached, a Store fails open (it falls back to a
// local in-memory store, logs loudly and counts each fallback in Stats) or
// fails closed (operations return an error wrapping state.ErrUnavailable),
// as configured.
//
// The scripts address several keys of one API key at once; the keys share
// a hash tag, but the lease renewal spans keys, so a Redis Cluster is not
// supported: use a single primary (with replicas or Sentinel for fail-over).
package redis
