package stream

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/report"
	"golang.org/x/sys/unix"
)

// The counts writers turn a report.Report into output: a table, or JSON
// counts records. They hold no state of their own: the model keeps what a
// report needs of the ones before it (deltas, rows shown). A time event
// (perfevent.Nanoseconds) is shown in ms in a table, and in ns in JSON, as
// the kernel counts it.

// Report writes rep: a table, or one JSON counts record per row, all with
// one time. elapsed is the time since counting began (an interval
// table's heading).
func (s *Stream) Report(rep report.Report, elapsed time.Duration) {
	if !s.json {
		s.Table(func(w io.Writer) { writeTable(w, s.names, s.units, rep, elapsed) })
		return
	}
	recs := make([]record, len(rep.Rows))
	for i := range rep.Rows {
		recs[i] = countsRecord(s.names, &rep.Rows[i], rep.Final)
	}
	s.emit(recs)
}

// countsRecord is the JSON record of a row.
func countsRecord(names []string, rw *report.Row, final bool) record {
	ev := &jsonEvents{names: names, vals: make([]jsonValue, len(names))}
	for j, v := range rw.Values {
		ev.vals[j] = jsonValue{Value: v.Raw, Delta: rw.Delta[j], EnabledNS: v.Enabled, RunningNS: v.Running}
	}
	exited := rw.State != report.Running && rw.State != report.Detached
	r := record{Type: "counts", PID: rw.PID, PPID: rw.PPID, TID: rw.TID, Comm: rw.Comm,
		Exited: &exited, Final: &final, Events: ev, Unknown: rw.Unknown}
	if rw.State == report.Folded || rw.PID == 0 {
		// A folded row, or a row per command name: how many processes
		// (or threads) it holds.
		r.Processes = rw.Processes
		r.Folded = rw.State == report.Folded
	}
	return r
}

// writeTable writes rep in columns, perf stat style: names and units are
// the events', by column.
func writeTable(w io.Writer, names []string, units []perfevent.Unit, rep report.Report, elapsed time.Duration) {
	n := len(rep.Rows)
	switch {
	case rep.Final && rep.ByComm:
		fmt.Fprintf(w, "\n Performance counter stats by command (%d %s, %d %s):\n\n", n, pl(n, "command", "commands"),
			rep.Processes, pl(rep.Processes, "process", "processes"))
	case rep.Final && !rep.PerThread && rep.Processes != n:
		// Folded rows hold several processes each.
		fmt.Fprintf(w, "\n Performance counter stats for the process tree (%d processes, %d rows):\n\n", rep.Processes, n)
	case rep.Final:
		fmt.Fprintf(w, "\n Performance counter stats for the process tree (%d %s):\n\n", n, rowsWord(n, rep.PerThread))
	default:
		fmt.Fprintf(w, "\n# %.3f s\n", elapsed.Seconds())
	}
	if rep.ByComm {
		fmt.Fprintf(w, "%8s  %-24s", "PROCS", "COMM")
	} else {
		id := "PID"
		if rep.PerThread {
			id = "TID"
		}
		fmt.Fprintf(w, "%8s %8s  %-24s", id, "PPID", "COMM")
	}
	for j, name := range names {
		fmt.Fprintf(w, " %*s", colWidth(name, units[j]), header(name, units[j]))
	}
	fmt.Fprintf(w, "  %s\n", "STATUS")
	for i := range rep.Rows {
		rw := &rep.Rows[i]
		if rep.ByComm {
			fmt.Fprintf(w, "%8d  %-24s", rw.Processes, truncate(rw.Comm, 24))
		} else {
			fmt.Fprintf(w, "%8s %8d  %-24s", rowID(rw, rep.PerThread), rw.PPID, truncate(rowComm(rw), 24))
		}
		for j, v := range rw.Values {
			s := formatValue(units[j], v)
			if rw.Unknown {
				s = "—" // not all of its counts could be read: no guess
			}
			fmt.Fprintf(w, " %*s", colWidth(names[j], units[j]), s)
		}
		fmt.Fprintf(w, "  %s\n", status(rw))
	}
	if rep.ByComm {
		fmt.Fprintf(w, "%8d  %-24s", rep.Processes, "total")
	} else {
		fmt.Fprintf(w, "%8s %8s  %-24s", "", "", "total")
	}
	for j, v := range rep.Totals {
		fmt.Fprintf(w, " %*s", colWidth(names[j], units[j]), formatValue(units[j], v))
	}
	fmt.Fprintln(w)
}

// rowID is the first column: the PID (TID with --per-thread), "-" for a
// folded row.
func rowID(rw *report.Row, perThread bool) string {
	switch {
	case rw.State == report.Folded:
		return "-"
	case perThread:
		return fmt.Sprint(rw.TID)
	}
	return fmt.Sprint(rw.PID)
}

// rowComm is the COMM column: indented by depth, a thread in brackets, a
// folded row with the number of tasks it holds.
func rowComm(rw *report.Row) string {
	c := rw.Comm
	if rw.Threads {
		c = "[" + c + "]"
	}
	if rw.State == report.Folded {
		c = fmt.Sprintf("%s (%d)", c, rw.Processes)
	}
	return strings.Repeat("  ", min(rw.Depth, 8)) + c
}

func status(rw *report.Row) string {
	switch rw.State {
	case report.Running:
		return "running"
	case report.Exited:
		return exitString(rw.Status)
	case report.Detached:
		return "detached"
	case report.Folded:
		if rw.Threads {
			return fmt.Sprintf("%d %s ended", rw.Processes, pl(rw.Processes, "thread", "threads"))
		}
		return fmt.Sprintf("%d %s ended", rw.Processes, pl(rw.Processes, "process", "processes"))
	}
	if rw.NoStatus {
		return "—" // it ended; how is not known
	}
	return "exited"
}

func exitString(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exit %d", ws.ExitStatus())
}

func rowsWord(n int, perThread bool) string {
	if perThread {
		return pl(n, "thread", "threads")
	}
	return pl(n, "process", "processes")
}

// header is an event's column heading: a time event says its unit.
func header(name string, u perfevent.Unit) string {
	if u == perfevent.Nanoseconds {
		return name + " (ms)"
	}
	return name
}

func colWidth(name string, u perfevent.Unit) int { return max(len(header(name, u)), 14) }

// formatValue shows a value (a time in ms), with the share of time it was
// counted when the kernel multiplexed it.
func formatValue(u perfevent.Unit, v perfevent.Value) string {
	var s string
	if u == perfevent.Nanoseconds {
		s = fmt.Sprintf("%.2f", float64(v.Raw)/1e6)
	} else {
		s = fmt.Sprintf("%d", v.Raw)
	}
	if v.Enabled > 0 && v.Running == 0 {
		return "<not counted>"
	}
	if v.Enabled > 0 && v.Running < v.Enabled {
		s += fmt.Sprintf(" (%.0f%%)", v.Percent())
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "~"
}

func pl(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
