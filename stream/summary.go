package stream

import (
	"fmt"
	"io"

	"github.com/perfprof/perfprof/runstats"
)

// Summary writes the run's summary, after its final report: two lines of
// text (the second when sampling), or one JSON "summary" record. order
// says that samples were written in time order (--order): the summary
// says how many were late.
func (s *Stream) Summary(run runstats.Run, order bool) {
	if s.json {
		s.emit([]record{summaryRecord(run, order)})
		return
	}
	s.Table(func(w io.Writer) { writeSummary(w, run, order) })
}

// summaryRecord is the JSON summary record.
func summaryRecord(run runstats.Run, order bool) record {
	tasks, forks, failures, left := run.Tasks.Followed, run.Tasks.Created, run.Devices.Failures, run.Tasks.Left
	d, cpu := run.Elapsed.Nanoseconds(), run.CPU.Nanoseconds()
	r := record{Type: "summary",
		TasksFollowed: &tasks, Forks: &forks, CounterFailures: &failures, DurationNS: &d, CPUNS: &cpu, TasksLeft: &left}
	if run.Samples.Sampling {
		samples, lost := run.Samples.Written, run.Samples.Lost
		ringFailures, ringBytes := run.Devices.RingFailures, run.Devices.RingBytesPeak
		r.Samples, r.Lost, r.RingFailures, r.RingBytes = &samples, &lost, &ringFailures, &ringBytes
		if order {
			late := run.Devices.Late
			r.LateSamples = &late
		}
	}
	return r
}

// writeSummary writes the summary as text.
func writeSummary(w io.Writer, run runstats.Run, order bool) {
	tasks, forks, failures := run.Tasks.Followed, run.Tasks.Created, run.Devices.Failures
	fmt.Fprintf(w, "\n %d %s followed, %d %s, %d counter %s, %.3f s elapsed, perfprof used %.3f s CPU\n",
		tasks, pl(tasks, "task", "tasks"), forks, pl(forks, "fork", "forks"),
		failures, pl(failures, "failure", "failures"), run.Elapsed.Seconds(), float64(run.CPU)/1e9)
	if sm := run.Samples; sm.Sampling {
		ringFailures := run.Devices.RingFailures
		fmt.Fprintf(w, " %d %s, %d lost, %d %s without a ring, %s of rings at most",
			sm.Written, pl(int(sm.Written), "sample", "samples"), sm.Lost, ringFailures, pl(ringFailures, "task", "tasks"),
			bytesString(run.Devices.RingBytesPeak))
		if order {
			fmt.Fprintf(w, ", %d out of order", run.Devices.Late)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

// bytesString says n bytes in KiB or MiB.
func bytesString(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
