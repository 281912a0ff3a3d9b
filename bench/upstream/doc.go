// Package upstream serves the built-in simulator (providers/simulator) as a
// standalone OpenAI-compatible HTTP server: POST /v1/chat/completions,
// unary and streamed (server-sent events, with usage when the request asks
// for it through stream_options.include_usage), and GET /healthz.
//
// It is the upstream of the overhead benchmark (cmd/llmsim runs it): the
// benchmark calls it directly and through each gateway, at the same rate,
// and subtracts. It is therefore written to cost little and to cost the
// same on every call: requests are decoded into a small struct, responses
// are written by hand into pooled buffers, and every stream event is
// flushed as soon as it is written.
//
// Timing comes from the simulator: Config.Latency is the time to the first
// token (fixed when only P50 is set), Config.ChunkDelay the time between
// stream chunks. With Config.Chunks set, every answer is exactly that many
// tokens long (one content chunk per token), so that all calls of a
// benchmark point are alike; max_tokens still shortens it.
package upstream
