// Package ledger is the gateway's usage ledger: one record per chat
// request (successful, failed or cancelled) with who made it, what
// answered, the tokens, the cost and the timings, kept in SQLite
// (modernc.org/sqlite, pure Go) in WAL mode.
//
// Record never blocks a request: records go into a bounded queue that one
// writer goroutine drains into the database in batches, one transaction
// per batch. A batch is written once it is full or once the flush
// interval (WithFlushInterval) has passed since its first record, so a
// steady trickle of records costs one transaction per interval rather
// than one per record. When the queue is full a record is dropped,
// counted in Stats and logged. Close flushes the queue at once. Usage
// answers aggregate queries (totals and breakdowns by key, model,
// provider and day), and Spend rebuilds per-key spend at start, so that a
// restart does not reset budgets; both first have the records accepted
// before the call written, so they never miss one.
package ledger
