package report

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"golang.org/x/sys/unix"
)

// run drives a Model as profdev and the tracer would, without a kernel:
// devices start and end, and reports read the live ones.
type run struct {
	t    testing.TB
	m    *Model
	next uint64
	live map[uint64]*profdev.Counts
	// sum is every count handed to the model (ended) or live now: what
	// the totals of a final report must be.
	sum uint64
}

func newRun(t testing.TB, opt Options) *run {
	if opt.Events == nil {
		opt.Events = []perfevent.Spec{{Name: "task-clock"}}
	}
	return &run{t: t, m: NewModel(opt), live: map[uint64]*profdev.Counts{}}
}

// start starts a device on task.
func (r *run) start(task pidtree.Task, comm string) uint64 {
	r.next++
	id := r.next
	r.m.Started(id, task, comm)
	r.live[id] = &profdev.Counts{ID: id, Task: task, Comm: comm, Valid: true, Values: []perfevent.Value{{}}}
	return id
}

// tick adds v to the count of device id.
func (r *run) tick(id uint64, v uint64) {
	c := r.live[id]
	c.Values[0].Raw += v
	c.Values[0].Enabled += v
	c.Values[0].Running += v
}

// end ends device id with how its task ended (exit < 0: let go alive).
func (r *run) end(id uint64, exit int) {
	c := r.live[id]
	delete(r.live, id)
	f := profdev.Final{ID: id, Task: c.Task, Comm: c.Comm, Valid: true, Values: c.Values}
	if exit >= 0 {
		f.Exited, f.Status = true, unix.WaitStatus(exit<<8)
	}
	r.m.Ended(f)
}

func (r *run) read(dst []profdev.Counts) []profdev.Counts {
	dst = dst[:0]
	for _, c := range r.live {
		dst = append(dst, profdev.Counts{ID: c.ID, Task: c.Task, Comm: c.Comm, Valid: true,
			Values: append([]perfevent.Value(nil), c.Values...)})
	}
	return dst
}

func (r *run) report(final bool) Report { return r.m.Report(r.read, final) }

// proc makes the Task of a process (its leader) and of its threads.
func proc(pid, ppid int, p, pp uint64) pidtree.Task {
	return pidtree.Task{TID: pid, TGID: pid, PPID: ppid, Proc: p, ParentProc: pp}
}

func thread(leader pidtree.Task, tid int) pidtree.Task {
	t := leader
	t.TID = tid
	return t
}

// lines renders rows as "depth-indented comm pid state value".
func lines(rep Report) []string {
	var out []string
	for _, r := range rep.Rows {
		s := fmt.Sprintf("%s%s %d %v %d", strings.Repeat(" ", r.Depth), r.Comm, r.PID, r.State, r.Values[0].Raw)
		if r.State == Folded {
			s = fmt.Sprintf("%s%s (%d) %d", strings.Repeat(" ", r.Depth), r.Comm, r.Processes, r.Values[0].Raw)
		}
		out = append(out, s)
	}
	return out
}

func check(t *testing.T, rep Report, want ...string) {
	t.Helper()
	if got := lines(rep); !reflect.DeepEqual(got, want) {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A process row sums its threads, live and ended, and a process is shown
// under its parent; pid reuse makes a row of its own.
func TestRowsAndTree(t *testing.T) {
	r := newRun(t, Options{})
	root := proc(10, 1, 1, 0)
	a := r.start(root, "root")
	r.tick(a, 100)
	th := r.start(thread(root, 11), "root")
	r.tick(th, 50)
	c1 := proc(20, 10, 2, 1)
	b := r.start(c1, "child")
	r.tick(b, 7)
	g := r.start(proc(30, 20, 3, 2), "grandchild")
	r.tick(g, 3)
	r.end(th, 0)
	r.end(g, 0)
	r.end(b, 0)
	again := r.start(proc(20, 10, 4, 1), "child again") // pid 20 reused
	r.tick(again, 1)
	check(t, r.report(false),
		"root 10 0 150",
		" child 20 1 7",
		"  grandchild 30 1 3",
		" child again 20 0 1")
	rep := r.report(false)
	check(t, rep, "root 10 0 150", " child again 20 0 1")
	if rep.Rows[0].Delta[0] != 0 || rep.Rows[1].Delta[0] != 0 {
		t.Errorf("deltas %v %v, want 0 (nothing counted since)", rep.Rows[0].Delta, rep.Rows[1].Delta)
	}
	r.end(a, 3)
	r.end(again, -1)
	rep = r.report(true)
	check(t, rep,
		"root 10 1 150",
		" child 20 1 7",
		"  grandchild 30 1 3",
		" child again 20 3 1")
	if rep.Rows[0].Status.ExitStatus() != 3 || rep.Totals[0].Raw != 161 {
		t.Errorf("root status %v, totals %v", rep.Rows[0].Status, rep.Totals)
	}
}

// Rows beyond Keep are folded by command name under their parent, every
// count kept; the model's rows stay bounded whatever the number of
// processes.
func TestFold(t *testing.T) {
	r := newRun(t, Options{Keep: 3})
	root := proc(10, 1, 1, 0)
	a := r.start(root, "sh")
	var want uint64 = 1
	r.tick(a, 1)
	for i := range 20 {
		comm := "cat"
		if i%2 == 1 {
			comm = "wc"
		}
		id := r.start(proc(100+i, 10, uint64(2+i), 1), comm)
		r.tick(id, uint64(i+1))
		want += uint64(i + 1)
		r.end(id, 0)
	}
	if live, kept, folded := r.m.Rows(); live != 1 || kept != 3 || folded != 2 {
		t.Errorf("rows: %d live, %d kept, %d folded; want 1, 3, 2", live, kept, folded)
	}
	rep := r.report(true)
	check(t, rep,
		"sh 10 0 1",
		" wc 117 1 18",
		" cat 118 1 19",
		" wc 119 1 20",
		" cat (9) 81",
		" wc (8) 72")
	if rep.Totals[0].Raw != want || rep.Processes != 21 {
		t.Errorf("totals %d over %d processes, want %d over 21", rep.Totals[0].Raw, rep.Processes, want)
	}
}

// A folded row lives under a row of its own or at the top: when the row it
// is under is folded too, it moves up. A chain of generations (each
// process forks the next and exits) keeps the model bounded.
func TestFoldChain(t *testing.T) {
	r := newRun(t, Options{Keep: 2})
	var total uint64
	parent, pp := 1, uint64(0)
	for i := range 500 {
		p := proc(100+i, parent, uint64(i+1), pp)
		id := r.start(p, "gen")
		r.tick(id, 2)
		total += 2
		// a short-lived helper of each generation
		h := r.start(proc(5000+i, 100+i, uint64(10000+i), uint64(i+1)), "helper")
		r.tick(h, 1)
		total++
		r.end(h, 0)
		r.end(id, 0)
		parent, pp = 100+i, uint64(i+1)
	}
	if live, kept, folded := r.m.Rows(); live != 0 || kept != 2 || folded > 4 {
		t.Errorf("rows: %d live, %d kept, %d folded; want 0, 2, at most 4", live, kept, folded)
	}
	rep := r.report(true)
	if rep.Totals[0].Raw != total || rep.Processes != 1000 {
		t.Errorf("totals %d over %d processes, want %d over 1000\n%s", rep.Totals[0].Raw, rep.Processes, total, strings.Join(lines(rep), "\n"))
	}
}

// A device that ends while a report reads it is counted once, by its
// Final.
func TestEndDuringRead(t *testing.T) {
	r := newRun(t, Options{})
	a := r.start(proc(10, 1, 1, 0), "root")
	r.tick(a, 10)
	b := r.start(proc(20, 10, 2, 1), "child")
	r.tick(b, 5)
	rep := r.m.Report(func(dst []profdev.Counts) []profdev.Counts {
		dst = r.read(dst) // b read live...
		r.tick(b, 1)
		r.end(b, 0) // ...then ended with 6 before the report was made
		return dst
	}, false)
	check(t, rep, "root 10 0 10", " child 20 1 6")
	if rep.Totals[0].Raw != 16 {
		t.Errorf("totals %d, want 16 (b counted once)", rep.Totals[0].Raw)
	}
}

// An interval report shows an ended row once, and a folded row when it
// changed; the final report shows them all.
func TestIntervalShowsEndedOnce(t *testing.T) {
	r := newRun(t, Options{Keep: 1})
	a := r.start(proc(10, 1, 1, 0), "sh")
	for i := range 3 {
		id := r.start(proc(20+i, 10, uint64(2+i), 1), "cat")
		r.end(id, 0)
	}
	check(t, r.report(false), "sh 10 0 0", " cat 22 1 0", " cat (2) 0")
	check(t, r.report(false), "sh 10 0 0")
	id := r.start(proc(30, 10, 9, 1), "cat")
	r.end(id, 0)
	check(t, r.report(false), "sh 10 0 0", " cat 30 1 0", " cat (3) 0")
	// sh ends: two ended rows, one too many: cat 30 is folded.
	r.end(a, 0)
	check(t, r.report(true), "sh 10 1 0", " cat (4) 0")
}

// ByComm: one row per command name, with its processes, over the whole
// run at every report.
func TestByComm(t *testing.T) {
	r := newRun(t, Options{ByComm: true, Keep: 2})
	root := proc(10, 1, 1, 0)
	a := r.start(root, "make")
	r.tick(a, 5)
	th := r.start(thread(root, 11), "make")
	r.tick(th, 5)
	for i := range 6 {
		id := r.start(proc(20+i, 10, uint64(2+i), 1), "cc1")
		r.tick(id, 10)
		r.end(id, 0)
	}
	rep := r.report(false)
	if len(rep.Rows) != 2 || rep.Rows[0].Comm != "cc1" || rep.Rows[0].Processes != 6 || rep.Rows[0].Values[0].Raw != 60 ||
		rep.Rows[1].Comm != "make" || rep.Rows[1].Processes != 1 || rep.Rows[1].Values[0].Raw != 10 || rep.Rows[1].State != Running {
		t.Errorf("rows %+v", rep.Rows)
	}
	id := r.start(proc(40, 10, 20, 1), "cc1")
	r.tick(id, 1)
	rep = r.report(false)
	if rep.Rows[0].Processes != 7 || rep.Rows[0].Delta[0] != 1 || rep.Processes != 8 {
		t.Errorf("second report %+v, want cc1 with 7 processes and delta 1", rep.Rows)
	}
}

// PerThread: a thread row under its leader; a thread that exec'd (and
// took the leader's TID) stays in the row it started in.
func TestPerThread(t *testing.T) {
	r := newRun(t, Options{PerThread: true})
	root := proc(10, 1, 1, 0)
	a := r.start(root, "p")
	r.tick(a, 1)
	th := r.start(thread(root, 11), "p")
	r.tick(th, 2)
	c := r.start(proc(20, 10, 2, 1), "q")
	r.tick(c, 4)
	check(t, r.report(false), "p 10 0 1", " p 10 0 2", " q 20 0 4")
	rows := r.report(false).Rows
	if !rows[1].Threads || rows[1].TID != 11 {
		t.Errorf("thread row %+v", rows[1])
	}
	// The thread execs: the old leader ends, the thread is now TID 10.
	r.end(a, 0)
	r.live[th].Task.TID = 10
	r.tick(th, 1)
	r.end(th, 0)
	r.end(c, 0)
	rep := r.report(true)
	if rep.Totals[0].Raw != 8 || len(rep.Rows) != 3 {
		t.Errorf("final %q, totals %v", lines(rep), rep.Totals)
	}
	if live, _, _ := r.m.Rows(); live != 0 {
		t.Errorf("%d rows still live", live)
	}
}

// BenchmarkChurn follows the model's memory through a storm of
// short-lived processes, with a report every 1,000 of them (as -i would):
// the bytes the heap grows per process over the second half of the run
// must stay near 0.
func BenchmarkChurn(b *testing.B) {
	const n = 200_000
	for range b.N {
		r := newRun(b, Options{Events: []perfevent.Spec{{Name: "task-clock"}, {Name: "page-faults"}}})
		root := proc(1, 0, 1, 0)
		rootID := r.start(root, "storm")
		var half runtime.MemStats
		for i := range n {
			p := proc(2+i%30000, 1, uint64(2+i), 1) // pids are reused
			id := r.start(p, "worker")
			r.live[id].Values = append(r.live[id].Values, perfevent.Value{})
			r.tick(id, 1)
			r.end(id, 0)
			if i%1000 == 999 {
				r.report(false)
			}
			if i == n/2 {
				runtime.GC()
				runtime.ReadMemStats(&half)
			}
		}
		runtime.GC()
		var end runtime.MemStats
		runtime.ReadMemStats(&end)
		growth := float64(int64(end.HeapAlloc)-int64(half.HeapAlloc)) / (n / 2)
		b.ReportMetric(growth, "heap-B/process")
		r.end(rootID, 0)
		if rep := r.report(true); rep.Processes != n+1 || rep.Totals[0].Raw != n {
			b.Fatalf("final: %d processes, %d counted; want %d, %d", rep.Processes, rep.Totals[0].Raw, n+1, n)
		}
	}
}

// BenchmarkStartEnd is what the model adds to the tracer's stop path for
// each short-lived process: its device's start and end.
func BenchmarkStartEnd(b *testing.B) {
	m := NewModel(Options{Events: []perfevent.Spec{{Name: "task-clock"}, {Name: "page-faults"}}})
	m.Started(1, proc(1, 0, 1, 0), "root")
	vals := make([]perfevent.Value, 2)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		t := proc(2+i%30000, 1, uint64(2+i), 1)
		m.Started(uint64(1+i), t, "worker")
		m.Ended(profdev.Final{ID: uint64(1 + i), Task: t, Comm: "worker", Exited: true, Valid: true, Values: vals})
	}
}

// TestSnapshot: a snapshot has every row's counts so far, folded ones too,
// summing to the final report's totals, and changes nothing a report
// shows: the next interval report's deltas and rows are as without it.
func TestSnapshot(t *testing.T) {
	mk := func() (*run, uint64) {
		r := newRun(t, Options{Keep: 2})
		root := r.start(proc(10, 1, 1, 0), "sh")
		r.tick(root, 5)
		for i := range 6 {
			id := r.start(proc(100+i, 10, uint64(2+i), 1), "cat")
			r.tick(id, 10)
			r.end(id, 0)
		}
		return r, root
	}
	with, root := mk()
	without, root2 := mk()
	first := with.report(false)
	without.report(false)
	with.tick(root, 7)
	without.tick(root2, 7)
	snap := with.m.Snapshot(with.read)
	var sum uint64
	comms := map[string]uint64{}
	for _, sr := range snap {
		sum += sr.Values[0].Raw
		comms[sr.Comm] += sr.Values[0].Raw
		if sr.Comm == "sh" && (!sr.Running || sr.PID != 10) {
			t.Errorf("sh's snapshot row %+v: want pid 10, running", sr)
		}
	}
	if sum != 72 || comms["sh"] != 12 || comms["cat"] != 60 {
		t.Errorf("snapshot sums %d (sh %d, cat %d), want 72 (12, 60); rows %+v", sum, comms["sh"], comms["cat"], snap)
	}
	a, b := with.report(false), without.report(false)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("an interval report after a snapshot:\n%+v\nwithout:\n%+v", a, b)
	}
	if len(first.Rows) == 0 || a.Rows[0].Delta[0] != 7 {
		t.Errorf("sh's delta after the snapshot: %v, want 7", a.Rows[0].Delta)
	}
}

// TestUnknownCounts: counts the follower cannot read are never shown as
// a count: a live device read as not Valid, or one that ended without
// valid counts, marks its row Unknown (shown as "—"), while the totals
// keep what was read; a task that ended without a status has
// NoStatus.
func TestUnknownCounts(t *testing.T) {
	r := newRun(t, Options{})
	sh := proc(10, 1, 1, 0)
	child := proc(11, 10, 2, 1)
	late := proc(12, 10, 3, 1)
	a := r.start(sh, "sh")
	b := r.start(child, "child")
	c := r.start(late, "late")
	r.tick(a, 5)
	r.tick(b, 7)
	r.live[a].Valid = false // alive, not pulsed yet
	rep := r.m.Report(func(dst []profdev.Counts) []profdev.Counts {
		dst = r.read(dst)
		for i := range dst {
			dst[i].Valid = dst[i].ID != a
		}
		return dst
	}, false)
	unknown := map[string]bool{}
	for _, row := range rep.Rows {
		unknown[row.Comm] = row.Unknown
	}
	if !unknown["sh"] || unknown["child"] || rep.Totals[0].Raw != 7 {
		t.Errorf("interval: unknown %v, total %d; want sh unknown, child 7", unknown, rep.Totals[0].Raw)
	}
	r.m.Ended(profdev.Final{ID: b, Task: child, Comm: "child", Ended: true, Valid: true, Values: r.live[b].Values})
	r.m.Ended(profdev.Final{ID: c, Task: late, Comm: "late", Valid: false, Values: r.live[c].Values})
	r.m.Ended(profdev.Final{ID: a, Task: sh, Comm: "sh", Exited: true, Valid: true, Values: r.live[a].Values})
	for _, row := range r.m.Report(r.read, true).Rows {
		switch row.Comm {
		case "child":
			if row.Unknown || row.State != Ended || !row.NoStatus || row.Values[0].Raw != 7 {
				t.Errorf("child: %+v, want ended with no status, 7", row)
			}
		case "late":
			if !row.Unknown || row.State != Detached {
				t.Errorf("late: %+v, want unknown, let go", row)
			}
		case "sh":
			if row.Unknown || row.State != Exited || row.NoStatus {
				t.Errorf("sh: %+v, want exited with its status, known", row)
			}
		}
	}
}
