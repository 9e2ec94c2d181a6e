package session

import (
	"fmt"

	"github.com/perfprof/perfprof/metrics"
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/report"
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
		Snapshot:  func() []report.SnapshotRow { return s.model.Snapshot(s.obs.Read) },
		Run:       s.runStats,
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
