// Package shed sheds load: it caps the calls in flight on the gateway and
// refuses each call over the cap at once, with Unavailable, an ErrorInfo
// reason OVERLOADED and a RetryInfo (HTTP 503 with Retry-After on the HTTP
// surfaces), instead of letting calls queue behind a saturated process.
//
// gRPC health checks and server reflection are never shed, so that probes
// keep answering while the gateway is busy. The cap can change while
// serving (a config reload); calls already admitted are not affected.
package shed
