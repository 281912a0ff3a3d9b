// Package accesslog logs one line per finished gRPC call on log/slog:
// method, status code (grpc.code), duration (latency_ms), peer, request
// id, the trace id when the call is traced and, once auth has run, the
// key id. A chat call's line also names its surface, the model asked for
// and the one that answered, the provider and upstream model, the
// attempts, the tokens and cost, and for streams the time to first
// content (ttft_ms).
//
// It never logs payloads (prompts and answers) or metadata (where the
// API key travels). Health checks and reflection are logged at debug
// level only, so that probes do not flood the log.
//
// The line is the one go-grpc-middleware's logging interceptor wrote
// (same message, keys, order and levels, through its
// DefaultServerCodeToLevel), and other interceptors still add fields to it
// with that package's logging.AddFields and logging.InjectFields. The
// interceptor itself is our own, though: the middleware's cost about 85
// allocations and tens of microseconds per call (it copies and merges
// logging.Fields lists several times, formats fields nobody reads, and
// logs through slog's ...any arguments), and it was the largest allocator
// of the request path. This one checks first whether the logger would log
// the call at all (a probe below debug level costs nothing), builds the
// line once as pre-sized slog attributes at the end of the call, and
// keeps a chat call's outcome as a struct rather than as fields.
package accesslog
