// Package stream owns a run's report stream: everything perfprof writes
// to its report (-o, or standard output) goes through one Stream, in one
// of two forms, tables or JSON lines (docs/usage.md):
//
//   - Report writes the counts of a report.Report, a table or one
//     "counts" record per row; Summary writes the run's summary from a
//     runstats.Run; Table writes text already made (--top).
//   - Fork, Exec and Exit write the task events of the follower (JSON).
//   - A SampleWriter (a profdev.SampleSink) writes the samples, perf
//     script's lines or "sample" records, counts them and the records the
//     kernel lost, and stops at a limit (-N); or it hands them to the
//     profiles.
//   - Messages carries perfprof's messages to standard error, or into a
//     daemon's report (MessageWriter).
//
// What each event measures comes from its perfevent.Spec (Unit): a time
// event's column is in ms, its JSON values in ns. The package decides no
// unit from a name.
//
// # Goroutines
//
// A JSON or queued Stream (Options.Queued: samples are written) has one
// writer goroutine, fed by one channel: the records take their times as
// they enter it, under one lock, so that they come out in that order and
// their times never decrease, from whichever goroutine they come (the
// tracer's task events, the ring owner's lost records, main's reports).
// The ring owner's SampleWriter writes its lines itself, when nothing is
// queued before them, and queues them otherwise: it never wakes the
// writer goroutine for a round of samples. Tables and messages go through
// the channel when the Stream is queued, so that nothing interleaves.
//
// # Failures
//
// A run's Stream stops at its first failed write (a reader that closed
// the pipe): Failed is closed, and Close returns the error. A daemon's
// (Options.Retry) lets a failed write go, counts the bytes and the runs
// of failures (Stats), tells systemd (STATUS=, internal/sdnotify), writes
// again when it can, and then says in the report how much was lost; it
// never blocks on a full disk. Reopen (SIGHUP) switches to the
// destination Options.Reopen opens, with whole lines in the old one.
package stream
