// Package state declares the shared state the gateway's door keeps between
// requests: rate-limit allowances (GCRA), concurrency slots, budget spend
// with reservations, and upstream cool-downs. Each concern is a small
// interface; package state/memory implements them in process, and package
// state/redis implements them on Redis with atomic Lua scripts, so that
// every replica of a fleet sees the same limits.
//
// Money is counted in whole nanodollars (int64), so that concurrent
// additions are exact; NanoUSD and USD convert.
package state
