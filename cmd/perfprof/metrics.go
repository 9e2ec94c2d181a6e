package main

import (
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/perfprof/perfprof/metrics"
	"github.com/perfprof/perfprof/report"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

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
	fails, _ := s.set.Failures()
	st := metrics.Stats{Tasks: s.set.Live(), CounterFailures: fails, ReportFailures: s.out.Stats().WriteFailures}
	if tasks := s.tasks.Load(); tasks != nil {
		t := (*tasks)()
		st.Created, st.Ended = int64(t.Created), int64(t.Ended)
	}
	if s.samples != nil {
		sm := s.samples.Stats()
		st.Sampling = true
		st.Samples, st.Lost = sm.Written, sm.Lost
	}
	return st
}
