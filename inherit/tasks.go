package inherit

import (
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"golang.org/x/sys/unix"
)

// TaskEvents receive the task records a run writes (stream.Stream's, for
// --json): a new task, an exec, an end with its status (the workload
// leader), an end whose status is not known (every other task: the
// kernel does not tell it). They run on the reader goroutine.
type TaskEvents interface {
	Fork(t pidtree.Task, parentTID int, kind string)
	Exec(t pidtree.Task, oldTID int, comm string)
	Exit(t pidtree.Task, ws unix.WaitStatus)
	Ended(t pidtree.Task)
}

// table is the tree as the records tell it: every live task, the process
// it belongs to, and what its inherited events counted once it ended. It
// is the reader goroutine's, under Follower.mu.
type table struct {
	specs  int // events per group (the pulse aside)
	cpus   int
	expect int // READ records an inherited task writes at its end: specs x CPUs
	// waiting are the tasks that ended with READ records still to come.
	waiting map[*task]struct{}
	event   map[uint64]eventRef // the id of each event opened -> its target and index
	tasks   map[int]*task       // live tasks by TID
	procs   map[int]*proc       // live processes by TGID
	sink    profdev.Sink
	events  TaskEvents // nil: no task records

	nextProc, nextID         uint64
	followed, created, ended int
	incomplete               int // tasks that ended with READ records missing (a full ring)
}

// eventRef names one event a Follower opened: on which target, which
// spec (-1: the pulse), on which CPU (its index in the Follower's list).
type eventRef struct {
	target   *target
	spec     int
	cpu      int
	counting bool // of the counting group (else the side band's)
}

// target is a task the Follower opened its groups on (the launched
// workload, an attached thread); the tasks it creates inherit them.
type target struct {
	task        *task
	side, count []*perfevent.Inherited // per CPU: its side-band and counting groups
	anchor      int                    // perfevent.Anchor's fd; 0 if none
	// ended sums, per event id, the READ records of the tasks that
	// inherited the target's events: its groups' reads minus them are
	// the target's own counts, once no inheriting task is alive.
	ended map[uint64]uint64
	live  int // tasks alive that inherited its events
}

// close closes the target's events.
func (tg *target) close() {
	for _, g := range append(tg.side, tg.count...) {
		g.Close()
	}
	tg.side, tg.count = nil, nil
	if tg.anchor > 0 {
		unix.Close(tg.anchor)
		tg.anchor = 0
	}
}

// proc is one process: its identity for the report and the profiles,
// and its command.
type proc struct {
	id, parent uint64
	ppid       int
	comm       string
	tasks      int // live tasks
}

// task is one followed task.
type task struct {
	pidtree.Task
	id     uint64 // the device id the sink knows it by
	proc   *proc
	from   *target // whose events it counts with (itself, for a target)
	own    *target // set for a target
	values []perfevent.Value
	// live is the task's counts on each CPU as of its last pulse sample
	// there, by CPU index then spec; nil before its first.
	live   [][]perfevent.Value
	reads  int    // READ records received
	perCPU []int  // of them, from each CPU's copies (by CPU index)
	exited bool   // its PERF_RECORD_EXIT came
	exitAt uint64 // its time
	status *unix.WaitStatus
}

func newTable(specs, cpus int, sink profdev.Sink, events TaskEvents) *table {
	return &table{specs: specs, cpus: cpus, expect: specs * cpus, event: map[uint64]eventRef{}, waiting: map[*task]struct{}{},
		tasks: map[int]*task{}, procs: map[int]*proc{}, sink: sink, events: events}
}

// process returns the live process tgid, made with ppid and comm if new.
func (tb *table) process(tgid, ppid int, comm string) *proc {
	p := tb.procs[tgid]
	if p == nil {
		tb.nextProc++
		p = &proc{id: tb.nextProc, ppid: ppid, comm: comm}
		if pp := tb.procs[ppid]; pp != nil {
			p.parent = pp.id
		}
		tb.procs[tgid] = p
	}
	return p
}

// add starts following task tid of process p, counted with from's events.
func (tb *table) add(tid, tgid int, p *proc, from *target, forked bool) *task {
	tb.nextID++
	t := &task{Task: pidtree.Task{TID: tid, TGID: tgid, PPID: p.ppid, Proc: p.id, ParentProc: p.parent, Forked: forked},
		id: tb.nextID, proc: p, from: from, values: make([]perfevent.Value, tb.specs), perCPU: make([]int, tb.cpus)}
	p.tasks++
	tb.tasks[tid] = t
	tb.followed++
	if tb.sink != nil {
		tb.sink.Started(t.id, t.Task, p.comm)
	}
	return t
}

// addTarget starts following a task the Follower opens its events on.
func (tb *table) addTarget(tid, tgid, ppid int, comm string) *target {
	tg := &target{ended: map[uint64]uint64{}}
	tg.task = tb.add(tid, tgid, tb.process(tgid, ppid, comm), tg, false)
	tg.task.own = tg
	return tg
}

// fork records a task created by a followed one (PERF_RECORD_FORK).
func (tb *table) fork(r *perfevent.TaskRecord) {
	if tb.tasks[r.TID] != nil {
		return // a target, opened after it was born
	}
	parent := tb.tasks[r.PTID]
	if parent == nil {
		parent = tb.tasks[r.PPID]
	}
	if parent == nil {
		return // created before its creator counted (a launch stub's thread)
	}
	var p *proc
	kind := "clone"
	if r.TID == r.PID {
		p = tb.process(r.PID, parent.TGID, parent.proc.comm)
		kind = "fork"
	} else if p = tb.procs[r.PID]; p == nil {
		p = tb.process(r.PID, parent.PPID, parent.proc.comm)
	}
	t := tb.add(r.TID, r.PID, p, parent.from, true)
	t.from.live++
	tb.created++
	if tb.events != nil {
		tb.events.Fork(t.Task, r.PTID, kind)
	}
}

// exec records an execve (PERF_RECORD_COMM with the exec flag): the
// task, its process's leader now, runs the program comm.
func (tb *table) exec(pid, tid int, comm string) {
	t, old := tb.tasks[tid], tid
	if t == nil || t.exited {
		// A thread's exec: the other threads, the leader too, were
		// killed and their ends came before this record; the thread
		// took the leader's TID, and its events will write their final
		// counts under it.
		if t = tb.execThread(pid); t == nil {
			return
		}
		old = t.TID
		delete(tb.tasks, old)
		t.TID = tid
		tb.tasks[tid] = t
	}
	t.proc.comm = comm
	if tb.events != nil {
		tb.events.Exec(t.Task, old, comm)
	}
}

// execThread returns the one live task of process pid whose end did not
// come, the thread that is exec'ing, or nil.
func (tb *table) execThread(pid int) *task {
	p := tb.procs[pid]
	if p == nil {
		return nil
	}
	var found *task
	for _, t := range tb.tasks {
		if t.proc == p && !t.exited {
			if found != nil {
				return nil
			}
			found = t
		}
	}
	return found
}

// exit records a task's end (PERF_RECORD_EXIT) at time at; an inherited
// task is done once its READ records came too.
func (tb *table) exit(tid int, at uint64) {
	if t := tb.tasks[tid]; t != nil && !t.exited {
		t.exited, t.exitAt = true, at
		if t.own == nil {
			tb.waiting[t] = struct{}{}
		}
		tb.complete(t)
	}
}

// overdue returns the tasks that ended before time before with READ
// records still to come.
func (tb *table) overdue(before uint64) []*task {
	var late []*task
	for t := range tb.waiting {
		if t.exitAt < before {
			late = append(late, t)
		}
	}
	return late
}

// giveUp ends task t, whose READ records will not all come (they were
// lost), without counts.
func (tb *table) giveUp(t *task) {
	tb.incomplete++
	tb.end(t, true, false)
}

// read adds a READ record's counts to its task. The record is event
// id's (its sample_id), which a group's record may hold with others: only
// its own value is taken (0: the first).
func (tb *table) read(r *perfevent.ReadRecord, id uint64) {
	if len(r.Values.Values) == 0 {
		return
	}
	v := r.Values.Values[0]
	for _, w := range r.Values.Values {
		if id != 0 && w.ID == id {
			v = w
		}
	}
	ref, ok := tb.event[v.ID]
	if !ok || !ref.counting || ref.spec < 0 {
		return
	}
	ref.target.ended[v.ID] += v.Value
	t := tb.tasks[r.TID]
	if t == nil || t.own != nil {
		return // not followed (a launch stub's thread), or counted at the end
	}
	val := &t.values[ref.spec]
	val.Raw += v.Value
	// Each CPU's copy of an event is enabled the whole life of the task
	// and runs only while the task runs on that CPU: its running time is
	// the one that adds up. A multiplexed counter is not scaled.
	val.Enabled += r.Values.TimeRunning
	val.Running += r.Values.TimeRunning
	t.reads++
	t.perCPU[ref.cpu]++
	tb.complete(t)
}

// pulse records a pulse sample: the counts of task tid on one CPU, as of
// now.
func (tb *table) pulse(tid int, r *perfevent.SampleRead) {
	t := tb.tasks[tid]
	if t == nil {
		return
	}
	for _, v := range r.Values {
		ref, ok := tb.event[v.ID]
		if !ok || !ref.counting || ref.spec < 0 {
			continue
		}
		if t.live == nil {
			t.live = make([][]perfevent.Value, tb.cpus)
		}
		if t.live[ref.cpu] == nil {
			t.live[ref.cpu] = make([]perfevent.Value, tb.specs)
		}
		t.live[ref.cpu][ref.spec] = perfevent.Value{Raw: v.Value, Enabled: r.TimeRunning, Running: r.TimeRunning}
	}
}

// liveValues sums t's pulse readings over the CPUs into dst: its counts
// as of its last pulse on each (zero where it had none).
func (t *task) liveValues(dst []perfevent.Value) {
	clear(dst)
	for _, cpu := range t.live {
		for i, v := range cpu {
			dst[i].Raw += v.Raw
			dst[i].Enabled += v.Enabled
			dst[i].Running += v.Running
		}
	}
}

// complete ends t if its end and all its READ records came.
func (tb *table) complete(t *task) {
	if t.own != nil || !t.exited || t.reads < tb.expect {
		return
	}
	tb.end(t, true, true)
}

// end ends task t: the sink gets its Final. gone says it ended (rather
// than being let go alive at the end of the run), valid that its values
// are its counts.
func (tb *table) end(t *task, gone, valid bool) {
	delete(tb.tasks, t.TID)
	delete(tb.waiting, t)
	if t.own == nil && t.from != nil {
		t.from.live--
	}
	if t.proc.tasks--; t.proc.tasks == 0 && tb.procs[t.TGID] == t.proc {
		delete(tb.procs, t.TGID)
	}
	tb.ended++
	f := profdev.Final{ID: t.id, Task: t.Task, Comm: t.proc.comm, Valid: valid, Values: t.values}
	switch {
	case t.status != nil:
		f.Exited, f.Status = true, *t.status
	case gone:
		f.Ended = true
	}
	if tb.sink != nil {
		tb.sink.Ended(f)
	}
	if tb.events != nil && (gone || t.status != nil) {
		if t.status != nil {
			tb.events.Exit(t.Task, *t.status)
		} else {
			tb.events.Ended(t.Task)
		}
	}
}

// finish ends every task still in the table, at the end of the run: a
// target with its own counts (its groups' reads less those of the tasks
// that inherited them), if none of those is alive still; an inherited
// task that ended with READ records missing, or is alive, without.
func (tb *table) finish() {
	var targets, rest []*task
	for _, t := range tb.tasks {
		if t.own != nil {
			targets = append(targets, t)
		} else {
			rest = append(rest, t)
		}
	}
	// Decided before the others end: a task alive, or ended with READ
	// records missing, holds counts of the target's reads.
	separable := map[*target]bool{}
	for _, t := range targets {
		separable[t.own] = t.own.live == 0
	}
	for _, t := range rest {
		if t.exited {
			tb.giveUp(t)
		} else {
			tb.end(t, false, false)
		}
	}
	for _, t := range targets {
		tb.endTarget(t.own, separable[t.own])
	}
}

// retire ends target tg, whose events hung up: it and every task that
// inherited them ended, and the READ records written before were handed
// on. A task of it still in the table lost its READ records.
func (tb *table) retire(tg *target) {
	separable := true
	for _, t := range tb.tasks {
		if t.from == tg && t.own == nil {
			separable = false // its counts are in the target's reads
			tb.giveUp(t)
		}
	}
	tb.endTarget(tg, separable)
}

// endTarget ends target tg's task, with its own counts (its groups'
// reads less the READ records of the tasks that inherited them) if
// separable, reading its groups.
func (tb *table) endTarget(tg *target, separable bool) {
	t := tg.task
	if tb.tasks[t.TID] != t {
		return // ended already
	}
	valid := separable
	for _, g := range tg.count {
		for i, id := range g.IDs {
			spec := tb.event[id].spec
			if spec < 0 {
				continue // the pulse
			}
			v, err := g.Read(i)
			if err != nil {
				valid = false
				continue
			}
			val := &t.values[spec]
			val.Raw += v.Raw - min(v.Raw, tg.ended[id])
			val.Enabled += v.Running
			val.Running += v.Running
		}
	}
	tb.end(t, t.exited, valid)
}
