package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/report"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func row(pid int, comm string, running bool, ns, faults uint64) report.SnapshotRow {
	return report.SnapshotRow{PID: pid, Comm: comm, Running: running, Processes: 1,
		Values: []perfevent.Value{{Raw: ns}, {Raw: faults}}}
}

// TestCollector: counts summed per command name, task-clock in seconds,
// command names past MaxComms summed as "other" (the first ones keep
// theirs), per-process series for live processes and, KeepEnded long, for
// ended ones; and the run's figures.
func TestCollector(t *testing.T) {
	now := time.Unix(1000, 0)
	rows := []report.SnapshotRow{
		row(10, "nginx", true, 2e9, 5),
		row(11, "nginx", true, 1e9, 1),
		row(12, "sh", false, 5e8, 2),
		row(13, "cat", true, 25e7, 3),
	}
	c := New(Options{Events: []string{"task-clock", "page-faults"}, MaxComms: 2, PerPID: true, KeepEnded: time.Minute,
		Snapshot: func() []report.SnapshotRow { return rows },
		Stats:    func() Stats { return Stats{Tasks: 3, Created: 4, Ended: 1, CounterFailures: 0} },
		Now:      func() time.Time { return now }})
	want := `
# HELP perfprof_event_total Events counted in the followed processes, by command name (seconds for task-clock and cpu-clock).
# TYPE perfprof_event_total counter
perfprof_event_total{comm="nginx",event="page-faults"} 6
perfprof_event_total{comm="nginx",event="task-clock"} 3
perfprof_event_total{comm="other",event="page-faults"} 3
perfprof_event_total{comm="other",event="task-clock"} 0.25
perfprof_event_total{comm="sh",event="page-faults"} 2
perfprof_event_total{comm="sh",event="task-clock"} 0.5
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "perfprof_event_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "perfprof_process_event_total"); n != 8 {
		t.Errorf("%d per-process series, want 8 (4 processes, 2 events)", n)
	}
	// The ended sh keeps its series a minute after it was first seen ended.
	now = now.Add(2 * time.Minute)
	if n := testutil.CollectAndCount(c, "perfprof_process_event_total"); n != 6 {
		t.Errorf("%d per-process series 2 minutes later, want 6 (sh's gone)", n)
	}
	if n := testutil.CollectAndCount(c, "perfprof_samples_total"); n != 0 {
		t.Errorf("samples reported when not sampling")
	}
	if v := testutil.ToFloat64(collectorOf(c, "perfprof_tasks")); v != 3 {
		t.Errorf("perfprof_tasks %v, want 3", v)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	// Two rows of one pid (a process's threads, or a pid used again):
	// one series, their sum.
	rows = append(rows, row(13, "cat", false, 5e8, 4))
	want = `
# HELP perfprof_process_event_total Events counted in each followed process (seconds for task-clock and cpu-clock).
# TYPE perfprof_process_event_total counter
perfprof_process_event_total{comm="cat",event="page-faults",pid="13"} 7
perfprof_process_event_total{comm="cat",event="task-clock",pid="13"} 0.75
perfprof_process_event_total{comm="nginx",event="page-faults",pid="10"} 5
perfprof_process_event_total{comm="nginx",event="page-faults",pid="11"} 1
perfprof_process_event_total{comm="nginx",event="task-clock",pid="10"} 2
perfprof_process_event_total{comm="nginx",event="task-clock",pid="11"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "perfprof_process_event_total"); err != nil {
		t.Error(err)
	}
}

// collectorOf is c restricted to the metric name, for testutil.ToFloat64.
func collectorOf(c *Collector, name string) prometheus.Collector {
	return filtered{c, name}
}

type filtered struct {
	c    *Collector
	name string
}

func (f filtered) Describe(ch chan<- *prometheus.Desc) { f.c.Describe(ch) }

func (f filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric, 64)
	go func() { f.c.Collect(all); close(all) }()
	for m := range all {
		if strings.Contains(m.Desc().String(), `"`+f.name+`"`) {
			ch <- m
		}
	}
}
