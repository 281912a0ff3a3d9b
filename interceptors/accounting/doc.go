// Package accounting writes one usage record per chat call to the usage
// ledger: who called (key id and labels), through which surface, the
// model asked for and the model and provider that answered, attempts,
// tokens, cost, latency, time to first token and the final status, for
// successful, failed, refused and cancelled calls alike. It runs after
// authentication (calls without a valid key are not recorded) and before
// the limits, so that refusals are recorded too.
//
// Recording never blocks: the Recorder queues (see package ledger).
package accounting
