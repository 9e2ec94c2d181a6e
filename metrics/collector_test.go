package metrics

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/report"
	"github.com/perfprof/perfprof/runstats"
)

func row(pid int, comm string, running bool, ns, faults uint64) report.SnapshotRow {
	return report.SnapshotRow{PID: pid, Comm: comm, Running: running, Processes: 1,
		Values: []perfevent.Value{{Raw: ns}, {Raw: faults}}}
}

// specs parses the events list, or fails t.
func specs(t *testing.T, list string) []perfevent.Spec {
	t.Helper()
	s, err := perfevent.Parse(list)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// familyText returns the lines of family name in page: its HELP and TYPE
// lines and its samples ("" if it has none).
func familyText(page, name string) string {
	var b strings.Builder
	for line := range strings.Lines(page) {
		n := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE ")
		if i := strings.IndexAny(n, "{ "); i >= 0 {
			n = n[:i]
		}
		if n == name || n == name+"_sum" || n == name+"_count" {
			b.WriteString(line)
		}
	}
	return b.String()
}

// seriesCount returns how many samples family name has in page.
func seriesCount(page, name string) int {
	n := 0
	for line := range strings.Lines(familyText(page, name)) {
		if !strings.HasPrefix(line, "#") {
			n++
		}
	}
	return n
}

// value returns the value of the one series of family name in page.
func value(t *testing.T, page, name string) float64 {
	t.Helper()
	text := familyText(page, name)
	for line := range strings.Lines(text) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no series %s in:\n%s", name, text)
	return 0
}

// compareFamily fails t unless family name of page reads want.
func compareFamily(t *testing.T, page, name, want string) {
	t.Helper()
	if got := familyText(page, name); strings.TrimSpace(got) != strings.TrimSpace(want) {
		t.Errorf("%s:\n%s\nwant:\n%s", name, got, strings.TrimSpace(want))
	}
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
	c := New(Options{Events: specs(t, "task-clock,page-faults"), MaxComms: 2, PerPID: true, KeepEnded: time.Minute,
		Snapshot: func() []report.SnapshotRow { return rows },
		Run: func() runstats.Run {
			return runstats.Run{Devices: runstats.Devices{Live: 3}, Tasks: runstats.Tasks{Created: 4, Ended: 1}}
		},
		Now: func() time.Time { return now }})
	page := string(c.AppendText(nil))
	compareFamily(t, page, "perfprof_event_total", `
# HELP perfprof_event_total Events counted in the followed processes, by command name (seconds for task-clock and cpu-clock).
# TYPE perfprof_event_total counter
perfprof_event_total{comm="nginx",event="page-faults"} 6
perfprof_event_total{comm="nginx",event="task-clock"} 3
perfprof_event_total{comm="other",event="page-faults"} 3
perfprof_event_total{comm="other",event="task-clock"} 0.25
perfprof_event_total{comm="sh",event="page-faults"} 2
perfprof_event_total{comm="sh",event="task-clock"} 0.5
`)
	if n := seriesCount(page, "perfprof_process_event_total"); n != 8 {
		t.Errorf("%d per-process series, want 8 (4 processes, 2 events)", n)
	}
	// The ended sh keeps its series a minute after it was first seen ended.
	now = now.Add(2 * time.Minute)
	page = string(c.AppendText(nil))
	if n := seriesCount(page, "perfprof_process_event_total"); n != 6 {
		t.Errorf("%d per-process series 2 minutes later, want 6 (sh's gone)", n)
	}
	if n := seriesCount(page, "perfprof_samples_total"); n != 0 {
		t.Errorf("samples reported when not sampling")
	}
	if v := value(t, page, "perfprof_tasks"); v != 3 {
		t.Errorf("perfprof_tasks %v, want 3", v)
	}
	for name, want := range map[string]float64{"perfprof_tasks_created_total": 4, "perfprof_tasks_ended_total": 1,
		"perfprof_event_open_failures_total": 0, "perfprof_report_write_failures_total": 0} {
		if v := value(t, page, name); v != want {
			t.Errorf("%s %v, want %v", name, v, want)
		}
	}
	lint(t, page)
	// Two rows of one pid (a process's threads, or a pid used again):
	// one series, their sum.
	rows = append(rows, row(13, "cat", false, 5e8, 4))
	compareFamily(t, string(c.AppendText(nil)), "perfprof_process_event_total", `
# HELP perfprof_process_event_total Events counted in each followed process (seconds for task-clock and cpu-clock).
# TYPE perfprof_process_event_total counter
perfprof_process_event_total{comm="cat",event="page-faults",pid="13"} 7
perfprof_process_event_total{comm="cat",event="task-clock",pid="13"} 0.75
perfprof_process_event_total{comm="nginx",event="page-faults",pid="10"} 5
perfprof_process_event_total{comm="nginx",event="page-faults",pid="11"} 1
perfprof_process_event_total{comm="nginx",event="task-clock",pid="10"} 2
perfprof_process_event_total{comm="nginx",event="task-clock",pid="11"} 1
`)
}

// TestCollectorUnits: the time events are exported in seconds whatever
// their modifier (task-clock:u, as perfprof counts for a user without
// privileges, cpu-clock:k), the others as counts; the unit comes from the
// Spec, not from the name.
func TestCollectorUnits(t *testing.T) {
	rows := []report.SnapshotRow{{PID: 1, Comm: "app", Running: true,
		Values: []perfevent.Value{{Raw: 15e8}, {Raw: 25e7}, {Raw: 7}, {Raw: 9}}}}
	evs := specs(t, "task-clock:u,cpu-clock:k,page-faults:u,context-switches")
	c := New(Options{Events: evs, Snapshot: func() []report.SnapshotRow { return rows }})
	compareFamily(t, string(c.AppendText(nil)), "perfprof_event_total", `
# HELP perfprof_event_total Events counted in the followed processes, by command name (seconds for task-clock and cpu-clock).
# TYPE perfprof_event_total counter
perfprof_event_total{comm="app",event="context-switches"} 9
perfprof_event_total{comm="app",event="cpu-clock:k"} 0.25
perfprof_event_total{comm="app",event="page-faults:u"} 7
perfprof_event_total{comm="app",event="task-clock:u"} 1.5
`)
	// A Spec whose name says clock but whose attr counts faults is a count.
	odd := evs[2]
	odd.Name = "task-clock-lookalike"
	c = New(Options{Events: []perfevent.Spec{odd}, Snapshot: func() []report.SnapshotRow {
		return []report.SnapshotRow{{PID: 1, Comm: "app", Values: []perfevent.Value{{Raw: 5}}}}
	}})
	if got := familyText(string(c.AppendText(nil)), "perfprof_event_total"); !strings.Contains(got, `event="task-clock-lookalike"} 5`+"\n") {
		t.Errorf("a page-faults attr named like a clock:\n%s", got)
	}
}

// TestCollectorSampling: with a sampling run, the samples and the lost
// ones; with no Run, no figures of the run.
func TestCollectorSampling(t *testing.T) {
	none := func() []report.SnapshotRow { return nil }
	c := New(Options{Events: specs(t, "task-clock"), Snapshot: none, Run: func() runstats.Run {
		return runstats.Run{Samples: runstats.Samples{Sampling: true, Written: 1234567, Lost: 2}, Report: runstats.Report{WriteFailures: 1}}
	}})
	page := string(c.AppendText(nil))
	compareFamily(t, page, "perfprof_samples_total", `
# HELP perfprof_samples_total Samples taken.
# TYPE perfprof_samples_total counter
perfprof_samples_total 1.234567e+06
`)
	for name, want := range map[string]float64{"perfprof_lost_samples_total": 2, "perfprof_report_write_failures_total": 1} {
		if v := value(t, page, name); v != want {
			t.Errorf("%s %v, want %v", name, v, want)
		}
	}
	// No rows: no perfprof_event_total family at all, as client_golang
	// leaves out a family with no series.
	if strings.Contains(page, "perfprof_event_total") {
		t.Errorf("perfprof_event_total with no rows:\n%s", familyText(page, "perfprof_event_total"))
	}
	page = string(New(Options{Events: specs(t, "task-clock"), Snapshot: none}).AppendText(nil))
	if strings.Contains(page, "perfprof_tasks") {
		t.Errorf("the run's figures without Options.Run:\n%s", page)
	}
}

// TestCollectorLabelValues: a command name is escaped as the text format
// wants (backslash, quote, newline), and bytes that are not UTF-8 become
// U+FFFD, which Prometheus accepts.
func TestCollectorLabelValues(t *testing.T) {
	rows := []report.SnapshotRow{
		{PID: 1, Comm: `a"b\c` + "\nd", Values: []perfevent.Value{{Raw: 1}}},
		{PID: 2, Comm: "x\xffy", Values: []perfevent.Value{{Raw: 2}}},
		{PID: 3, Comm: "", Values: []perfevent.Value{{Raw: 3}}},
	}
	c := New(Options{Events: specs(t, "page-faults"), Snapshot: func() []report.SnapshotRow { return rows }})
	page := string(c.AppendText(nil))
	compareFamily(t, page, "perfprof_event_total", `
# HELP perfprof_event_total Events counted in the followed processes, by command name (seconds for task-clock and cpu-clock).
# TYPE perfprof_event_total counter
perfprof_event_total{comm="?",event="page-faults"} 3
perfprof_event_total{comm="a\"b\\c\nd",event="page-faults"} 1
perfprof_event_total{comm="x`+"\uFFFD"+`y",event="page-faults"} 2
`)
	lint(t, page)
}
