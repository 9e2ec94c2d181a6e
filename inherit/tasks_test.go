package inherit

import (
	"testing"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"golang.org/x/sys/unix"
)

// sinkLog records what a table tells its sink and its task events.
type sinkLog struct {
	started map[uint64]pidtree.Task
	ended   map[int]profdev.Final // by TID
	forks   []string
	exits   map[int]bool // TID: with a status
}

func newSinkLog() *sinkLog {
	return &sinkLog{started: map[uint64]pidtree.Task{}, ended: map[int]profdev.Final{}, exits: map[int]bool{}}
}

func (l *sinkLog) Started(id uint64, t pidtree.Task, comm string) { l.started[id] = t }
func (l *sinkLog) Ended(f profdev.Final)                          { l.ended[f.TID] = f }
func (l *sinkLog) Fork(t pidtree.Task, parentTID int, kind string) {
	l.forks = append(l.forks, kind)
}
func (l *sinkLog) Exec(t pidtree.Task, oldTID int, comm string) {}
func (l *sinkLog) Exit(t pidtree.Task, ws unix.WaitStatus)      { l.exits[t.TID] = true }

// logEvents is the sinkLog as TaskEvents (its Ended is the sink's).
type logEvents struct{ *sinkLog }

func (e logEvents) Ended(t pidtree.Task) { e.exits[t.TID] = false }

// newTestTable is a table of 2 events on 2 CPUs with target 10 (event ids
// 100+cpu*2+spec), without groups to read.
func newTestTable(l *sinkLog) (*table, *target) {
	tb := newTable(2, 2, l, logEvents{l})
	tg := tb.addTarget(10, 10, 1, "sh")
	for cpu := 0; cpu < 2; cpu++ {
		for spec := 0; spec < 2; spec++ {
			tb.event[uint64(100+cpu*2+spec)] = eventRef{target: tg, spec: spec, cpu: cpu, counting: true}
		}
	}
	return tb, tg
}

// readAll feeds the READ records of task tid (pid), value v per event
// and CPU.
func readAll(tb *table, pid, tid int, v uint64) {
	for id := uint64(100); id < 104; id++ {
		tb.read(&perfevent.ReadRecord{PID: pid, TID: tid,
			Values: perfevent.SampleRead{TimeEnabled: 10, TimeRunning: 5, Values: []perfevent.ReadValue{{Value: v, ID: id}}}}, id)
	}
}

// TestTableForkExitRead: a child is reported once its end and all its
// READ records came, with the sum of its copies' counts, its parent and
// its own process; a thread shares its process.
func TestTableForkExitRead(t *testing.T) {
	l := newSinkLog()
	tb, tg := newTestTable(l)
	tb.fork(&perfevent.TaskRecord{PID: 11, PPID: 10, TID: 11, PTID: 10})
	tb.fork(&perfevent.TaskRecord{PID: 11, PPID: 11, TID: 12, PTID: 11})
	if tg.live != 2 || tb.created != 2 || len(l.forks) != 2 || l.forks[0] != "fork" || l.forks[1] != "clone" {
		t.Fatalf("live %d created %d forks %v", tg.live, tb.created, l.forks)
	}
	child, thread := tb.tasks[11], tb.tasks[12]
	if child.PPID != 10 || child.Proc == tg.task.Proc || child.ParentProc != tg.task.Proc || thread.Proc != child.Proc || !child.Forked {
		t.Errorf("child %+v thread %+v target %+v", child.Task, thread.Task, tg.task.Task)
	}
	tb.exit(12, 1)
	readAll(tb, 11, 12, 3)
	if f, ok := l.ended[12]; !ok || !f.Valid || !f.Ended || f.Exited || f.Values[0].Raw != 6 || f.Values[1].Raw != 6 {
		t.Errorf("thread's final %+v (ended %v), want ended, valid, 6 and 6", f, ok)
	}
	readAll(tb, 11, 11, 1) // READ records before the EXIT: held
	if _, ok := l.ended[11]; ok {
		t.Fatal("child ended before its EXIT")
	}
	tb.exit(11, 2)
	if f := l.ended[11]; !f.Valid || f.Values[0].Raw != 2 {
		t.Errorf("child's final %+v", f)
	}
	if tg.live != 0 || len(tb.procs) != 1 || tg.ended[100] != 4 {
		t.Errorf("live %d procs %d ended[100] %d, want 0, 1, 4", tg.live, len(tb.procs), tg.ended[100])
	}
	if l.exits[11] || l.exits[12] {
		t.Errorf("exit records with a status: %v", l.exits)
	}
}

// TestTableFinish: at the end, a child alive and one whose READ records
// did not all come are reported without counts; so is the target while a
// task that inherited its events lives.
func TestTableFinish(t *testing.T) {
	l := newSinkLog()
	tb, _ := newTestTable(l)
	tb.fork(&perfevent.TaskRecord{PID: 11, PPID: 10, TID: 11, PTID: 10})
	tb.fork(&perfevent.TaskRecord{PID: 13, PPID: 10, TID: 13, PTID: 10})
	tb.exit(13, 1)
	tb.read(&perfevent.ReadRecord{PID: 13, TID: 13, Values: perfevent.SampleRead{Values: []perfevent.ReadValue{{Value: 1, ID: 100}}}}, 100)
	tb.finish()
	if f := l.ended[11]; f.Valid || f.Ended || f.Exited {
		t.Errorf("live child's final %+v: want let go, not valid", f)
	}
	if f := l.ended[13]; f.Valid || !f.Ended || tb.incomplete != 1 {
		t.Errorf("incomplete child's final %+v (incomplete %d)", f, tb.incomplete)
	}
	if f := l.ended[10]; f.Valid {
		t.Errorf("target's final %+v: its counts hold a live child's", f)
	}
	if len(tb.tasks) != 0 || len(tb.procs) != 0 {
		t.Errorf("%d tasks, %d processes left", len(tb.tasks), len(tb.procs))
	}
}

// TestTableExecFromThread: a thread's exec takes the leader's TID after
// the other threads ended; its READ records then come under that TID.
func TestTableExecFromThread(t *testing.T) {
	l := newSinkLog()
	tb, _ := newTestTable(l)
	tb.fork(&perfevent.TaskRecord{PID: 11, PPID: 10, TID: 11, PTID: 10})
	tb.fork(&perfevent.TaskRecord{PID: 11, PPID: 11, TID: 12, PTID: 11})
	tb.exit(11, 1)
	readAll(tb, 11, 11, 1)
	tb.exec(11, 11, "true")
	tr := tb.tasks[11]
	if tr == nil || tr.id == 0 || tb.tasks[12] != nil || tr.proc.comm != "true" {
		t.Fatalf("after the exec: task 11 %+v, task 12 %v", tr, tb.tasks[12])
	}
	tb.exit(11, 2)
	readAll(tb, 11, 11, 2)
	if f, ok := l.ended[11]; !ok || !f.Valid || f.Comm != "true" || f.Values[0].Raw != 4 {
		t.Errorf("exec'd thread's final %+v", f)
	}
}

// TestTableUnknownParent: a task whose creator is not followed (a launch
// stub's thread, before the exec) is not followed, nor its READ records
// counted to a task.
func TestTableUnknownParent(t *testing.T) {
	l := newSinkLog()
	tb, tg := newTestTable(l)
	tb.fork(&perfevent.TaskRecord{PID: 50, PPID: 49, TID: 51, PTID: 50})
	if len(tb.tasks) != 1 || tg.live != 0 {
		t.Errorf("%d tasks, target live %d", len(tb.tasks), tg.live)
	}
	readAll(tb, 50, 51, 5)
	if len(l.ended) != 0 {
		t.Errorf("ended %v", l.ended)
	}
}

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string]int{"0": 1, "0-3\n": 4, "0-1,4,6-7": 5} {
		if got, err := parseCPUList(in); err != nil || len(got) != want {
			t.Errorf("%q: %v %v, want %d CPUs", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a", "3-1", "1-x"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
