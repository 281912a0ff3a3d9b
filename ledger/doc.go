// Package ledger is the gateway's usage ledger: one record per chat
// request (successful, failed or cancelled) with who made it, what
// answered, the tokens, the cost and the timings, kept in SQLite
// (modernc.org/sqlite, pure Go) in WAL mode.
//
// Record never blocks a request: records go into a bounded queue that one
// writer goroutine drains into the database in batches, one transaction
// per batch. When the queue is full a record is dropped, counted in Stats
// and logged. Close flushes the queue. Usage answers aggregate queries
// (totals and breakdowns by key, model, provider and day), and Spend
// rebuilds per-key spend at start, so that a restart does not reset
// budgets.
package ledger
