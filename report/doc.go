// Package report owns the report model of a run: it turns the counts of
// the followed tasks into rows — one per process, one per thread
// (PerThread), or one per command name (ByComm) — in tree order, and keeps
// its memory bounded however many tasks a run sees. It does no I/O: the
// report stream (package stream: a table or JSON counts records) consumes
// the Reports it makes, and the metrics its Snapshots.
//
// A Model learns of each device's start and end (it is profdev's sink) and
// reads the live ones at each report. The counts of an ended task are
// added into its row at once, and the device is forgotten. A row whose
// tasks have all ended is kept as a row of its own up to Options.Keep such
// rows; beyond that the oldest are folded, by command name, into the row
// of their parent (or into a top-level one when the parent is gone too):
// a folded row says how many processes (or threads) it holds, and every
// count is still in it, so the totals stay exact.
//
// All methods may be called from any goroutine.
package report
