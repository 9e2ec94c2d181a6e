package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/profdev"
	"golang.org/x/sys/unix"
)

// record is one JSON line.
type record struct {
	Type      string      `json:"type"`
	Time      int64       `json:"time"`
	Kind      string      `json:"kind,omitempty"`
	ParentTID int         `json:"parent_tid,omitempty"`
	PID       int         `json:"pid,omitempty"`
	PPID      int         `json:"ppid,omitempty"`
	TID       int         `json:"tid,omitempty"`
	Comm      string      `json:"comm,omitempty"`
	Code      *int        `json:"code,omitempty"`
	Signal    *int        `json:"signal,omitempty"`
	Exited    *bool       `json:"exited,omitempty"`
	Final     *bool       `json:"final,omitempty"`
	Events    *jsonEvents `json:"events,omitempty"`

	TasksFollowed   *int   `json:"tasks_followed,omitempty"`
	Forks           *int   `json:"forks,omitempty"`
	CounterFailures *int   `json:"counter_failures,omitempty"`
	DurationNS      *int64 `json:"duration_ns,omitempty"`
	CPUNS           *int64 `json:"perfprof_cpu_ns,omitempty"`
	TasksLeft       *int   `json:"tasks_left,omitempty"`
}

type jsonValue struct {
	Value     uint64 `json:"value"`
	Delta     uint64 `json:"delta"`
	EnabledNS uint64 `json:"enabled_ns"`
	RunningNS uint64 `json:"running_ns"`
}

// jsonEvents keeps the events in the order the user gave them.
type jsonEvents struct {
	names []string
	vals  []jsonValue
}

func (e *jsonEvents) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range e.names {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		v, _ := json.Marshal(e.vals[i])
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// output owns the report stream.
//
// In JSON, every record goes through one channel to one writer goroutine,
// and takes its time as it enters the channel, under seq: the records come
// out in the order of their times, and a record's time is never less than
// the one before it. Task events (fork, exec, exit) come from the tracer
// goroutine, which never waits for a write: the channel holds 4096 items,
// and only a writer that far behind makes it wait (no record is dropped).
// Reports and the summary come from the main goroutine.
//
// A table is written by the main goroutine alone, under mu.
//
// The first write error stops all writing; Failed is closed then, so that
// the run can stop (a reader that closed the pipe wants no more), and close
// returns it.
type output struct {
	json bool
	w    *bufio.Writer
	enc  *json.Encoder

	seq   sync.Mutex // orders the times and the sends of JSON items
	last  int64      // the time of the last item sent
	items chan outItem
	done  chan struct{}

	mu sync.Mutex // guards w for tables

	errMu  sync.Mutex
	err    error
	failed chan struct{}
}

// outItem is one task event, or the records of one report (they share a
// time).
type outItem struct {
	r     record
	batch []record
}

func newOutput(w io.Writer, asJSON bool) *output {
	o := &output{json: asJSON, w: bufio.NewWriterSize(w, 64<<10), failed: make(chan struct{})}
	o.enc = json.NewEncoder(o.w)
	if asJSON {
		o.items = make(chan outItem, 4096)
		o.done = make(chan struct{})
		go o.drain()
	}
	return o
}

// stamp returns the time for the next item: now, or the last item's time
// if the wall clock went back. Precondition: seq held.
func (o *output) stamp() int64 {
	now := time.Now().UnixNano()
	if now < o.last {
		now = o.last
	}
	o.last = now
	return now
}

// event queues a task event (JSON only).
func (o *output) event(r record) {
	o.seq.Lock()
	r.Time = o.stamp()
	o.items <- outItem{r: r}
	o.seq.Unlock()
}

// emit queues records that share one time (JSON only): a report, or the
// summary.
func (o *output) emit(rs []record) {
	o.seq.Lock()
	now := o.stamp()
	for i := range rs {
		rs[i].Time = now
	}
	o.items <- outItem{batch: rs}
	o.seq.Unlock()
}

func (o *output) drain() {
	defer close(o.done)
	for it := range o.items {
		if o.Err() != nil {
			continue // discard: nothing more can be written
		}
		if it.batch == nil {
			o.enc.Encode(it.r)
		}
		for i := range it.batch {
			o.enc.Encode(it.batch[i])
		}
		if len(o.items) == 0 {
			if err := o.w.Flush(); err != nil {
				o.fail(err)
			}
		}
	}
}

// table writes a table with write (not JSON).
func (o *output) table(write func(w io.Writer)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.Err() != nil {
		return
	}
	write(o.w)
	if err := o.w.Flush(); err != nil {
		o.fail(err)
	}
}

func (o *output) fail(err error) {
	o.errMu.Lock()
	defer o.errMu.Unlock()
	if o.err == nil {
		o.err = err
		close(o.failed)
	}
}

// Err returns the first write error.
func (o *output) Err() error {
	o.errMu.Lock()
	defer o.errMu.Unlock()
	return o.err
}

// Failed is closed at the first write error.
func (o *output) Failed() <-chan struct{} { return o.failed }

// close writes everything queued and returns the first write error. No
// record may be queued after it.
func (o *output) close() error {
	if o.items != nil {
		close(o.items)
		<-o.done
		o.items = nil
	}
	o.mu.Lock()
	if err := o.w.Flush(); err != nil && o.Err() == nil {
		o.fail(err)
	}
	o.mu.Unlock()
	return o.Err()
}

// rowKey identifies a row: a process, or one of its threads.
type rowKey struct {
	proc uint64
	tid  int
}

// row is one line of a report: a process, or a thread with --per-thread.
type row struct {
	pid, ppid, tid   int
	proc, parentProc uint64 // process identities (pids may be reused)
	comm             string
	exited           bool
	closed           bool
	status           string
	vals             []perfevent.Value
	depth            int
	devs             []int // indices of the devices summed in the row
}

// reporter turns device readings into reports.
type reporter struct {
	set       *profdev.Set
	out       *output
	names     []string
	perThread bool
	start     time.Time

	counts []profdev.Counts
	prev   map[rowKey][]uint64 // last scaled values, for deltas
	// shown[i] is set once device i was shown closed in an interval
	// report: later interval reports leave it out (the final one does
	// not), so that a long run's reports do not grow with every task
	// that ever lived.
	shown []bool
}

func newReporter(set *profdev.Set, out *output, perThread bool) *reporter {
	r := &reporter{set: set, out: out, perThread: perThread, start: time.Now(), prev: map[rowKey][]uint64{}}
	for _, s := range set.Specs() {
		r.names = append(r.names, s.Name)
	}
	return r
}

// rows reads the set and aggregates per process (or per thread), in tree
// order: each process under its parent. An interval report leaves out the
// tasks that had already ended at the previous one.
func (r *reporter) rows(final bool) []row {
	r.counts = r.set.Read(r.counts)
	for len(r.shown) < len(r.counts) {
		r.shown = append(r.shown, false)
	}
	n := len(r.names)
	byKey := map[rowKey]*row{}
	var order []*row
	for i := range r.counts {
		c := &r.counts[i]
		if !c.Valid || !final && r.shown[i] {
			continue
		}
		key := rowKey{c.Proc, 0}
		if r.perThread {
			key.tid = c.TID
		}
		rw := byKey[key]
		if rw == nil {
			rw = &row{pid: c.TGID, ppid: c.PPID, proc: c.Proc, parentProc: c.ParentProc,
				vals: make([]perfevent.Value, n), exited: true, closed: true}
			if r.perThread {
				rw.tid = c.TID
			}
			byKey[key] = rw
			order = append(order, rw)
		}
		rw.devs = append(rw.devs, i)
		for j := range n {
			// Sum per-thread scaled values: each thread multiplexes on
			// its own.
			v := c.Values[j]
			rw.vals[j].Raw += v.Scaled()
			rw.vals[j].Enabled += v.Enabled
			rw.vals[j].Running += v.Running
		}
		if c.TID == c.TGID || rw.comm == "" {
			rw.comm = c.Comm
			rw.ppid = c.PPID
			if c.Exited {
				rw.status = exitString(c.Status)
			}
		}
		rw.exited = rw.exited && c.Exited
		rw.closed = rw.closed && c.Closed
	}
	if !final {
		for _, rw := range order {
			if rw.closed {
				for _, i := range rw.devs {
					r.shown[i] = true
				}
			}
		}
	}
	return treeOrder(order)
}

// treeOrder sorts rows so that each process follows its parent process
// (and, with --per-thread, each thread follows its process's leader), and
// sets their depth.
func treeOrder(rows []*row) []row {
	// The row that stands for each process: its leader's.
	leader := map[uint64]*row{}
	for _, rw := range rows {
		if rw.tid == 0 || rw.tid == rw.pid {
			leader[rw.proc] = rw
		}
	}
	kids := map[*row][]*row{}
	var roots []*row
	for _, rw := range rows {
		var parent *row
		if rw.tid != 0 && rw.tid != rw.pid {
			parent = leader[rw.proc] // a thread, under its leader
		} else if rw.parentProc != 0 {
			parent = leader[rw.parentProc] // a process, under its parent
		}
		if parent != nil && parent != rw {
			kids[parent] = append(kids[parent], rw)
		} else {
			roots = append(roots, rw)
		}
	}
	out := make([]row, 0, len(rows))
	seen := map[*row]bool{}
	var walk func(rw *row, depth int)
	walk = func(rw *row, depth int) {
		if seen[rw] {
			return
		}
		seen[rw] = true
		rw.depth = depth
		out = append(out, *rw)
		ks := kids[rw]
		// Threads first, then child processes, each in id order.
		sort.SliceStable(ks, func(i, j int) bool {
			ti, tj := ks[i].pid == rw.pid, ks[j].pid == rw.pid
			if ti != tj {
				return ti
			}
			if ks[i].tid != ks[j].tid {
				return ks[i].tid < ks[j].tid
			}
			return ks[i].pid < ks[j].pid
		})
		for _, k := range ks {
			walk(k, depth+1)
		}
	}
	for _, rw := range roots {
		walk(rw, 0)
	}
	for _, rw := range rows { // cycles (pid reuse): never lose a row
		walk(rw, 0)
	}
	return out
}

func exitString(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exit %d", ws.ExitStatus())
}

// report writes one report: a table, or one JSON counts record per row.
func (r *reporter) report(final bool) {
	rows := r.rows(final)
	if !r.out.json {
		r.out.table(func(w io.Writer) { r.table(w, rows, final) })
		return
	}
	recs := make([]record, len(rows))
	for i := range rows {
		rw := &rows[i]
		ev := &jsonEvents{names: r.names, vals: make([]jsonValue, len(r.names))}
		prev := r.prev[rowKey{rw.proc, rw.tid}]
		cur := make([]uint64, len(r.names))
		for j, v := range rw.vals {
			cur[j] = v.Raw
			d := v.Raw
			if j < len(prev) && prev[j] <= v.Raw {
				d = v.Raw - prev[j]
			}
			ev.vals[j] = jsonValue{Value: v.Raw, Delta: d, EnabledNS: v.Enabled, RunningNS: v.Running}
		}
		r.prev[rowKey{rw.proc, rw.tid}] = cur
		exited, fin := rw.exited, final
		recs[i] = record{Type: "counts", PID: rw.pid, PPID: rw.ppid, TID: rw.tid,
			Comm: rw.comm, Exited: &exited, Final: &fin, Events: ev}
	}
	r.out.emit(recs)
}

// table writes rows in columns, perf stat style.
func (r *reporter) table(w io.Writer, rows []row, final bool) {
	elapsed := time.Since(r.start)
	if final {
		fmt.Fprintf(w, "\n Performance counter stats for the process tree (%d %s):\n\n", len(rows), plural(len(rows), "process", "processes", r.perThread))
	} else {
		fmt.Fprintf(w, "\n# %.3f s\n", elapsed.Seconds())
	}
	idHeader := "PID"
	if r.perThread {
		idHeader = "TID"
	}
	fmt.Fprintf(w, "%8s %8s  %-24s", idHeader, "PPID", "COMM")
	for _, name := range r.names {
		fmt.Fprintf(w, " %*s", colWidth(name), header(name))
	}
	fmt.Fprintf(w, "  %s\n", "STATUS")
	totals := make([]perfevent.Value, len(r.names))
	for _, rw := range rows {
		id := rw.pid
		if r.perThread {
			id = rw.tid
		}
		comm := strings.Repeat("  ", min(rw.depth, 8)) + rw.comm
		if r.perThread && rw.tid != rw.pid {
			comm = strings.Repeat("  ", min(rw.depth, 8)) + "[" + rw.comm + "]"
		}
		fmt.Fprintf(w, "%8d %8d  %-24s", id, rw.ppid, truncate(comm, 24))
		for j, v := range rw.vals {
			fmt.Fprintf(w, " %*s", colWidth(r.names[j]), formatValue(r.names[j], v))
			totals[j].Raw += v.Raw
			totals[j].Enabled += v.Enabled
			totals[j].Running += v.Running
		}
		status := "running"
		switch {
		case rw.exited && rw.status != "":
			status = rw.status
		case rw.exited:
			status = "exited"
		case rw.closed:
			status = "detached"
		}
		fmt.Fprintf(w, "  %s\n", status)
	}
	fmt.Fprintf(w, "%8s %8s  %-24s", "", "", "total")
	for j, v := range totals {
		fmt.Fprintf(w, " %*s", colWidth(r.names[j]), formatValue(r.names[j], v))
	}
	fmt.Fprintln(w)
}

func plural(n int, one, many string, perThread bool) string {
	if perThread {
		one, many = "thread", "threads"
	}
	if n == 1 {
		return one
	}
	return many
}

// timeEvent reports whether an event counts nanoseconds (shown in ms).
func timeEvent(name string) bool {
	base, _, _ := strings.Cut(name, ":")
	return base == "task-clock" || base == "cpu-clock"
}

func header(name string) string {
	if timeEvent(name) {
		return name + " (ms)"
	}
	return name
}

func colWidth(name string) int { return max(len(header(name)), 14) }

// formatValue shows a value, with the share of time it was counted when
// the kernel multiplexed it.
func formatValue(name string, v perfevent.Value) string {
	var s string
	if timeEvent(name) {
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
