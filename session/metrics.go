package session

import (
	"fmt"

	"github.com/perfprof/perfprof/metrics"
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/report"
	"github.com/perfprof/perfprof/runstats"
)

// serveMetrics serves the run's metrics of the events specs on --listen's
// address (metrics.Serve), from now until stop is called. The listener is
// open when it returns, before any target is attached, so that an address
// in use is an error of the command (a daemon's too), not a silent
// failure later.
func (s *Session) serveMetrics(specs []perfevent.Spec) (stop func(), err error) {
	c := s.cfg
	srv, err := metrics.Serve(c.Listen, metrics.Options{
		Events:    specs,
		Snapshot:  func() []report.SnapshotRow { return s.model.Snapshot(s.set.Read) },
		Run:       s.metricStats,
		MaxComms:  c.MetricsComms,
		PerPID:    c.MetricsPID,
		KeepEnded: c.MetricsKeep,
		OnError:   func(err error) { s.rep.Warn(fmt.Errorf("metrics: %w", err)) },
	})
	if err != nil {
		return nil, err
	}
	return func() { srv.Close() }, nil
}

// metricStats are the run's own figures that the metrics show. A scrape
// calls it on the metrics server's goroutine.
func (s *Session) metricStats() runstats.Run {
	fails, _ := s.set.Failures()
	r := runstats.Run{
		Devices: runstats.Devices{Live: s.set.Live(), Failures: fails},
		Report:  s.out.Stats(),
	}
	if tasks := s.tasks.Load(); tasks != nil {
		r.Tasks = (*tasks)()
	}
	if s.samples != nil {
		r.Samples = s.samples.Stats()
	}
	return r
}
