// Package load drives open-loop, constant-rate load at one endpoint and
// summarises what it measured: latency percentiles (p50, p90, p99, p99.9)
// of whole responses, and for streams the time to the first and to the
// last content chunk and the spacing of the chunks.
//
// Open loop means requests start on the schedule of the rate, never
// waiting for earlier ones to finish, so that a slow target cannot hide
// queueing by slowing the load down. The OpenAI-compatible unary surface
// is driven by vegeta's attacker (github.com/tsenart/vegeta/v12, as a
// library); streams and gRPC by a small generator on vegeta's constant
// pacer that starts one goroutine per request. Both time a request from
// the moment it is sent to the moment its last byte is read.
//
// Each run has a warm-up, whose requests are sent at the same rate but
// left out of the summary, then the measured interval; requests still in
// flight at the end are awaited up to their timeout and counted.
package load
