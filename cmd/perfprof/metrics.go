package main

import (
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/perfprof/perfprof/metrics"
	"github.com/perfprof/perfprof/report"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// taskCounts counts the tasks the tracer saw created and ended, for the
// metrics (hooks, on the tracer goroutine).
type taskCounts struct {
	created, ended atomic.Int64
}

// serveMetrics listens on --listen's address and serves the run's metrics
// at /metrics, from now until stop is called. The listener is opened
// here, before any target is attached, so that an address in use is an
// error of the command (a daemon's too), not a silent failure later.
func (s *session) serveMetrics() (stop func(), err error) {
	c := s.cfg
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		metrics.New(metrics.Options{
			Events:    s.names,
			Snapshot:  func() []report.SnapshotRow { return s.model.Snapshot(s.set.Read) },
			Stats:     s.metricStats,
			MaxComms:  c.metricsComms,
			PerPID:    c.metricsPID,
			KeepEnded: c.metricsKeep,
		}),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.warnf("metrics: %v", err)
		}
	}()
	return func() { srv.Close() }, nil
}

// metricStats are the run's own figures for the metrics.
func (s *session) metricStats() metrics.Stats {
	dv := s.set.Stats()
	st := metrics.Stats{Tasks: dv.Live, Created: s.tasks.created.Load(), Ended: s.tasks.ended.Load(),
		CounterFailures: dv.Failures, ReportFailures: s.out.writeFailures.Load()}
	if s.sampler != nil {
		st.Sampling = true
		st.Samples, st.Lost = s.sampler.samples.Load(), s.sampler.lost.Load()
	}
	return st
}
