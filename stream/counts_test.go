package stream

import (
	"strings"
	"testing"
	"time"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/report"
	"github.com/perfprof/perfprof/runstats"
	"golang.org/x/sys/unix"
)

func TestFormatValue(t *testing.T) {
	tests := []struct {
		name string
		v    perfevent.Value
		want string
	}{
		{"task-clock", perfevent.Value{Raw: 1234567, Enabled: 10, Running: 10}, "1.23"},
		{"page-faults", perfevent.Value{Raw: 42, Enabled: 10, Running: 10}, "42"},
		{"cycles", perfevent.Value{Raw: 1000, Enabled: 100, Running: 50}, "1000 (50%)"},
		{"cycles", perfevent.Value{Raw: 0, Enabled: 100, Running: 0}, "<not counted>"},
		{"cpu-clock:u", perfevent.Value{Raw: 2e6}, "2.00"},
	}
	for _, tc := range tests {
		sp := specs(t, tc.name)[0]
		if got := formatValue(sp.Unit(), tc.v); got != tc.want {
			t.Errorf("formatValue(%s, %+v) = %q, want %q", tc.name, tc.v, got, tc.want)
		}
	}
}

// The unit of a column comes from the event's Spec, not its name: a
// tracepoint is a count whatever it is called, and a clock is a time
// whatever its modifiers.
func TestColumnUnit(t *testing.T) {
	for _, tc := range []struct {
		spec perfevent.Spec
		want string
	}{
		{specs(t, "task-clock:uk")[0], "task-clock:uk (ms)"},
		{specs(t, "cpu-clock")[0], "cpu-clock (ms)"},
		{specs(t, "page-faults")[0], "page-faults"},
		{perfevent.Spec{Name: "task-clock"}, "task-clock"}, // no attr: a count
	} {
		if got := header(tc.spec.Name, tc.spec.Unit()); got != tc.want {
			t.Errorf("header(%q) = %q, want %q", tc.spec.Name, got, tc.want)
		}
	}
}

func val(raw, enabled, running uint64) perfevent.Value {
	return perfevent.Value{Raw: raw, Enabled: enabled, Running: running}
}

// intervalReport has a row of each kind.
func intervalReport() report.Report {
	return report.Report{
		Rows: []report.Row{
			{PID: 100, PPID: 1, Comm: "make", Processes: 1, State: report.Running,
				Values: []perfevent.Value{val(1234567, 10, 10), val(42, 10, 10)}, Delta: []uint64{1234567, 42}},
			{PID: 101, PPID: 100, Comm: "cc1-with-a-very-long-command-name", Processes: 1, State: report.Exited,
				Status: 2 << 8, Depth: 1, Values: []perfevent.Value{val(2e6, 100, 50), val(0, 100, 0)}, Delta: []uint64{2e6, 0}},
			{PID: 102, PPID: 100, Comm: "killed", Processes: 1, State: report.Exited, Status: unix.WaitStatus(unix.SIGKILL),
				Depth: 9, Values: []perfevent.Value{val(5, 1, 1), val(1, 1, 1)}, Delta: []uint64{5, 1}},
			{PPID: 100, Comm: "sh", Processes: 3, State: report.Folded, Depth: 1,
				Values: []perfevent.Value{val(3e6, 0, 0), val(7, 0, 0)}, Delta: []uint64{3e6, 7}},
			{PID: 1, Comm: "init", Processes: 1, State: report.Detached,
				Values: []perfevent.Value{val(0, 0, 0), val(0, 0, 0)}, Delta: []uint64{0, 0}},
		},
		Totals: []perfevent.Value{val(6234572, 0, 0), val(50, 0, 0)},
	}
}

func writeReport(t *testing.T, opt Options, rep report.Report) string {
	t.Helper()
	d := newDisk()
	d.calls = nil
	s := New(d, opt)
	s.Report(rep, 1500*time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// The tables, against golden strings.
func TestTable(t *testing.T) {
	events := specs(t, "task-clock,page-faults")
	perThread := report.Report{Final: true, PerThread: true, Processes: 1,
		Rows: []report.Row{
			{PID: 100, TID: 100, PPID: 1, Comm: "app", Processes: 2, State: report.Exited,
				Values: []perfevent.Value{val(1e6, 1, 1), val(1, 1, 1)}, Delta: []uint64{1e6, 1}},
			{PID: 100, TID: 101, PPID: 1, Comm: "worker", Processes: 1, Threads: true, State: report.Exited, Depth: 1,
				Values: []perfevent.Value{val(2e6, 1, 1), val(2, 1, 1)}, Delta: []uint64{2e6, 2}},
			{PID: 100, PPID: 1, Comm: "worker", Processes: 4, Threads: true, State: report.Folded, Depth: 1,
				Values: []perfevent.Value{val(3e6, 1, 1), val(3, 1, 1)}, Delta: []uint64{3e6, 3}},
		},
		Totals: []perfevent.Value{val(6e6, 0, 0), val(6, 0, 0)},
	}
	folded := intervalReport()
	folded.Final, folded.Processes = true, 7
	one := report.Report{Final: true, Processes: 1,
		Rows:   []report.Row{{PID: 5, PPID: 1, Comm: "true", Processes: 1, State: report.Exited, Values: []perfevent.Value{val(1, 1, 1), val(1, 1, 1)}}},
		Totals: []perfevent.Value{val(1, 0, 0), val(1, 0, 0)}}
	inherited := report.Report{Final: true, Processes: 3,
		Rows: []report.Row{
			{PID: 7, PPID: 1, Comm: "sh", Processes: 1, State: report.Exited, Values: []perfevent.Value{val(2e6, 1, 1), val(9, 1, 1)}},
			{PID: 8, PPID: 7, Comm: "true", Processes: 1, State: report.Ended, NoStatus: true, Depth: 1,
				Values: []perfevent.Value{val(1e6, 1, 1), val(4, 1, 1)}},
			{PID: 9, PPID: 7, Comm: "sleep", Processes: 1, State: report.Detached, Unknown: true, Depth: 1,
				Values: []perfevent.Value{{}, {}}},
		},
		Totals: []perfevent.Value{val(3e6, 0, 0), val(13, 0, 0)}}
	byComm := report.Report{Final: true, ByComm: true, Processes: 5,
		Rows: []report.Row{
			{Comm: "cc1", Processes: 4, State: report.Exited, Values: []perfevent.Value{val(4e6, 1, 1), val(4, 1, 1)}},
			{Comm: "make", Processes: 1, State: report.Running, Values: []perfevent.Value{val(1e6, 1, 1), val(1, 1, 1)}},
		},
		Totals: []perfevent.Value{val(5e6, 0, 0), val(5, 0, 0)}}
	for _, tc := range []struct {
		name string
		rep  report.Report
		want string
	}{
		{"interval", intervalReport(), `
# 1.500 s
     PID     PPID  COMM                     task-clock (ms)    page-faults  STATUS
     100        1  make                                1.23             42  running
     101      100    cc1-with-a-very-long-~      2.00 (50%)  <not counted>  exit 2
     102      100                  killed              0.00              1  killed by SIGKILL
       -      100    sh (3)                            3.00              7  3 processes ended
       1        0  init                                0.00              0  detached
                   total                               6.23             50
`},
		{"final folded", folded, `
 Performance counter stats for the process tree (7 processes, 5 rows):

     PID     PPID  COMM                     task-clock (ms)    page-faults  STATUS
     100        1  make                                1.23             42  running
     101      100    cc1-with-a-very-long-~      2.00 (50%)  <not counted>  exit 2
     102      100                  killed              0.00              1  killed by SIGKILL
       -      100    sh (3)                            3.00              7  3 processes ended
       1        0  init                                0.00              0  detached
                   total                               6.23             50
`},
		{"final one process", one, `
 Performance counter stats for the process tree (1 process):

     PID     PPID  COMM                     task-clock (ms)    page-faults  STATUS
       5        1  true                                0.00              1  exit 0
                   total                               0.00              1
`},
		{"per thread", perThread, `
 Performance counter stats for the process tree (3 threads):

     TID     PPID  COMM                     task-clock (ms)    page-faults  STATUS
     100        1  app                                 1.00              1  exit 0
     101        1    [worker]                          2.00              2  exit 0
       -        1    [worker] (4)                      3.00              3  4 threads ended
                   total                               6.00              6
`},
		{"status and counts unknown", inherited, `
 Performance counter stats for the process tree (3 processes):

     PID     PPID  COMM                     task-clock (ms)    page-faults  STATUS
       7        1  sh                                  2.00              9  exit 0
       8        7    true                              1.00              4  —
       9        7    sleep                                —              —  detached
                   total                               3.00             13
`},
		{"by comm", byComm, `
 Performance counter stats by command (2 commands, 5 processes):

   PROCS  COMM                     task-clock (ms)    page-faults  STATUS
       4  cc1                                 4.00              4  exit 0
       1  make                                1.00              1  running
       5  total                               5.00              5
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, queued := range []bool{false, true} {
				if got := writeReport(t, Options{Events: events, Queued: queued}, tc.rep); got != tc.want {
					t.Errorf("queued %v: got\n%s\nwant\n%s", queued, got, tc.want)
				}
			}
		})
	}
}

// The JSON counts records, against golden strings: one per row, with one
// time, the events in -e order.
func TestCountsRecords(t *testing.T) {
	rep := intervalReport()
	rep.Rows = append(rep.Rows, report.Row{Comm: "cc1", Processes: 4, State: report.Exited,
		Values: []perfevent.Value{val(1, 1, 1), val(2, 1, 1)}, Delta: []uint64{1, 2}}) // a row per command name
	got := writeReport(t, Options{JSON: true, Events: specs(t, "task-clock,page-faults")}, rep)
	want := `{"type":"counts","time":T,"pid":100,"ppid":1,"comm":"make","exited":false,"final":false,"events":{"task-clock":{"value":1234567,"delta":1234567,"enabled_ns":10,"running_ns":10},"page-faults":{"value":42,"delta":42,"enabled_ns":10,"running_ns":10}}}
{"type":"counts","time":T,"pid":101,"ppid":100,"comm":"cc1-with-a-very-long-command-name","exited":true,"final":false,"events":{"task-clock":{"value":2000000,"delta":2000000,"enabled_ns":100,"running_ns":50},"page-faults":{"value":0,"delta":0,"enabled_ns":100,"running_ns":0}}}
{"type":"counts","time":T,"pid":102,"ppid":100,"comm":"killed","exited":true,"final":false,"events":{"task-clock":{"value":5,"delta":5,"enabled_ns":1,"running_ns":1},"page-faults":{"value":1,"delta":1,"enabled_ns":1,"running_ns":1}}}
{"type":"counts","time":T,"ppid":100,"comm":"sh","processes":3,"folded":true,"exited":true,"final":false,"events":{"task-clock":{"value":3000000,"delta":3000000,"enabled_ns":0,"running_ns":0},"page-faults":{"value":7,"delta":7,"enabled_ns":0,"running_ns":0}}}
{"type":"counts","time":T,"pid":1,"comm":"init","exited":false,"final":false,"events":{"task-clock":{"value":0,"delta":0,"enabled_ns":0,"running_ns":0},"page-faults":{"value":0,"delta":0,"enabled_ns":0,"running_ns":0}}}
{"type":"counts","time":T,"comm":"cc1","processes":4,"exited":true,"final":false,"events":{"task-clock":{"value":1,"delta":1,"enabled_ns":1,"running_ns":1},"page-faults":{"value":2,"delta":2,"enabled_ns":1,"running_ns":1}}}
`
	if noTimes(got) != want {
		t.Errorf("got\n%s\nwant\n%s", noTimes(got), want)
	}
	ls := parseLines(t, got)
	for _, l := range ls[1:] {
		if l.Time != ls[0].Time {
			t.Errorf("times %d and %d in one report", ls[0].Time, l.Time)
		}
	}
}

// The summary, text and JSON, against golden strings.
func TestSummary(t *testing.T) {
	counting := runstats.Run{
		Tasks:   runstats.Tasks{Followed: 12, Created: 11, Left: 1},
		Devices: runstats.Devices{Failures: 1, Late: 3},
		Elapsed: 2345678901 * time.Nanosecond, CPU: 123456789 * time.Nanosecond,
	}
	one := runstats.Run{Tasks: runstats.Tasks{Followed: 1}, Elapsed: time.Millisecond}
	sampling := counting
	sampling.Samples = runstats.Samples{Sampling: true, Written: 1000, Lost: 5}
	sampling.Devices.RingFailures, sampling.Devices.RingBytesPeak = 1, 3<<19
	small := one
	small.Samples = runstats.Samples{Sampling: true, Written: 1}
	small.Devices.RingFailures, small.Devices.RingBytesPeak = 2, 516<<10
	for _, tc := range []struct {
		name  string
		run   runstats.Run
		order bool
		text  string
		json  string
	}{
		{"counting", counting, false,
			"\n 12 tasks followed, 11 forks, 1 counter failure, 2.346 s elapsed, perfprof used 0.123 s CPU\n\n",
			`{"type":"summary","time":T,"tasks_followed":12,"forks":11,"counter_failures":1,"duration_ns":2345678901,"perfprof_cpu_ns":123456789,"tasks_left":1}`},
		{"counting, order", counting, true,
			"\n 12 tasks followed, 11 forks, 1 counter failure, 2.346 s elapsed, perfprof used 0.123 s CPU\n\n",
			`{"type":"summary","time":T,"tasks_followed":12,"forks":11,"counter_failures":1,"duration_ns":2345678901,"perfprof_cpu_ns":123456789,"tasks_left":1}`},
		{"one task", one, false,
			"\n 1 task followed, 0 forks, 0 counter failures, 0.001 s elapsed, perfprof used 0.000 s CPU\n\n",
			`{"type":"summary","time":T,"tasks_followed":1,"forks":0,"counter_failures":0,"duration_ns":1000000,"perfprof_cpu_ns":0,"tasks_left":0}`},
		{"sampling", sampling, false,
			"\n 12 tasks followed, 11 forks, 1 counter failure, 2.346 s elapsed, perfprof used 0.123 s CPU\n" +
				" 1000 samples, 5 lost, 1 task without a ring, 1.5 MiB of rings at most\n\n",
			`{"type":"summary","time":T,"lost":5,"tasks_followed":12,"forks":11,"counter_failures":1,"duration_ns":2345678901,"perfprof_cpu_ns":123456789,"tasks_left":1,"samples":1000,"ring_failures":1,"ring_bytes_max":1572864}`},
		{"sampling, order", sampling, true,
			"\n 12 tasks followed, 11 forks, 1 counter failure, 2.346 s elapsed, perfprof used 0.123 s CPU\n" +
				" 1000 samples, 5 lost, 1 task without a ring, 1.5 MiB of rings at most, 3 out of order\n\n",
			`{"type":"summary","time":T,"lost":5,"tasks_followed":12,"forks":11,"counter_failures":1,"duration_ns":2345678901,"perfprof_cpu_ns":123456789,"tasks_left":1,"samples":1000,"ring_failures":1,"ring_bytes_max":1572864,"late_samples":3}`},
		{"one sample", small, false,
			"\n 1 task followed, 0 forks, 0 counter failures, 0.001 s elapsed, perfprof used 0.000 s CPU\n" +
				" 1 sample, 0 lost, 2 tasks without a ring, 516 KiB of rings at most\n\n",
			`{"type":"summary","time":T,"lost":0,"tasks_followed":1,"forks":0,"counter_failures":0,"duration_ns":1000000,"perfprof_cpu_ns":0,"tasks_left":0,"samples":1,"ring_failures":2,"ring_bytes_max":528384}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, asJSON := range []bool{false, true} {
				d := newDisk()
				d.calls = nil
				s := New(d, Options{JSON: asJSON, Queued: tc.run.Samples.Sampling})
				s.Summary(tc.run, tc.order)
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				want := tc.text
				if asJSON {
					want = tc.json + "\n"
				}
				if got := noTimes(d.String()); got != want {
					t.Errorf("json %v: got\n%s\nwant\n%s", asJSON, strings.TrimSpace(got), strings.TrimSpace(want))
				}
			}
		})
	}
}
