package main

import (
	"sync/atomic"

	"github.com/perfprof/perfprof/metrics"
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/report"
	"github.com/perfprof/perfprof/runstats"
)

// taskCounts counts the tasks the tracer saw created and ended, for the
// metrics (hooks, on the tracer goroutine).
type taskCounts struct {
	created, ended atomic.Int64
}

// serveMetrics serves the run's metrics of the events specs on --listen's
// address (metrics.Serve), from now until stop is called. The listener is
// open when it returns, before any target is attached, so that an address
// in use is an error of the command (a daemon's too), not a silent
// failure later.
func (s *session) serveMetrics(specs []perfevent.Spec) (stop func(), err error) {
	c := s.cfg
	srv, err := metrics.Serve(c.listen, metrics.Options{
		Events:    specs,
		Snapshot:  func() []report.SnapshotRow { return s.model.Snapshot(s.set.Read) },
		Run:       s.metricStats,
		MaxComms:  c.metricsComms,
		PerPID:    c.metricsPID,
		KeepEnded: c.metricsKeep,
		OnError:   func(err error) { s.warnf("metrics: %v", err) },
	})
	if err != nil {
		return nil, err
	}
	return func() { srv.Close() }, nil
}

// metricStats are the run's own figures that the metrics show.
func (s *session) metricStats() runstats.Run {
	fails, _ := s.set.Failures()
	r := runstats.Run{
		Tasks:   runstats.Tasks{Created: int(s.tasks.created.Load()), Ended: int(s.tasks.ended.Load())},
		Devices: runstats.Devices{Live: s.set.Live(), Failures: fails},
		Report:  runstats.Report{WriteFailures: s.out.writeFailures.Load()},
	}
	if s.sampler != nil {
		r.Samples = runstats.Samples{Sampling: true, Written: s.sampler.samples.Load(), Lost: s.sampler.lost.Load()}
	}
	return r
}
