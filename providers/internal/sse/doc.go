// Package sse reads Server-Sent Events (the text/event-stream format of the
// WHATWG HTML standard, section 9.2) incrementally from an io.Reader.
//
// It owns line splitting (LF, CRLF or a lone CR), field parsing (event,
// data, id, retry), comments (keep-alives) and event dispatch, with a bound
// on the size of one line and of one event's data so that a misbehaving
// upstream cannot make the gateway buffer without limit. It does not
// reconnect: provider adapters treat a broken stream as a failed attempt.
//
// The reader reuses its buffers: an Event's Data is valid only until the
// next call to Next, and a steady stream of events allocates nothing.
package sse
