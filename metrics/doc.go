// Package metrics serves a run's counts as Prometheus metrics: a custom
// prometheus.Collector that reads the report model's snapshot at each
// scrape (report.Model.Snapshot), not a gauge per task, so that a daemon
// following a service for days keeps a bounded set of series however
// many processes come and go.
//
// perfprof_event_total{comm,event} counts each event per command name,
// over the whole run (ended processes included, so the counters only
// grow); time events (task-clock, cpu-clock) in seconds, as Prometheus
// wants base units. The number of command names with series of their own
// is bounded (Options.MaxComms): the first ones seen keep theirs, later
// ones are summed under comm="other", so that no count moves between
// series. With Options.PerPID, perfprof_process_event_total{pid,comm,event}
// adds a series per live process, and per ended one for Options.KeepEnded
// after perfprof saw it end. The run's own figures (tasks followed,
// tasks created and ended, samples, lost samples, counter-open failures)
// and perfprof's process (CPU, memory, fds: client_golang's process
// collector) come with them.
package metrics
