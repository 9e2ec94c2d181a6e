// Package metrics serves a run's counts as Prometheus metrics: a Collector
// that reads the report model's snapshot at each scrape
// (report.Model.Snapshot), not a gauge per task, so that a daemon
// following a service for days keeps a bounded set of series however
// many processes come and go; and a Server (Serve) that answers scrapes
// at /metrics.
//
// perfprof_event_total{comm,event} counts each event per command name,
// over the whole run (ended processes included, so the counters only
// grow); time events (perfevent.Spec.Unit is Nanoseconds: task-clock and
// cpu-clock, with any modifier) in seconds, as Prometheus wants base
// units. The number of command names with series of their own is bounded
// (Options.MaxComms): the first ones seen keep theirs, later ones are
// summed under comm="other", so that no count moves between series. With
// Options.PerPID, perfprof_process_event_total{pid,comm,event} adds a
// series per live process, and per ended one for Options.KeepEnded after
// perfprof saw it end. The run's own figures (runstats.Run: tasks
// followed, tasks created and ended, samples, lost samples, counter-open
// failures, failed report writes) and perfprof's process (process_*: CPU,
// memory, fds) and Go runtime (go_*) come with them.
//
// The package writes the text exposition format itself, and serves it
// with a small HTTP/1.1 server of its own: the series, help texts and
// values are those client_golang (its process and Go collectors, and
// promhttp) gave before, which the tests check against client_golang
// itself, but the perfprof binary no longer links client_golang, its
// protobuf and net/http. Those were two thirds of the binary, and every
// run paid for them in memory, metrics or not (docs/performance.md).
//
// # Goroutines
//
// A Server has one goroutine that accepts connections and one per open
// connection; each scrape runs on its connection's goroutine and calls
// Options.Snapshot and Options.Run there, so those must be safe to call
// from any goroutine. A Collector is safe for concurrent use (a mutex
// guards the command names it has given series to and the ended
// processes it keeps). Server.Close ends every goroutine of the Server
// before it returns.
package metrics
