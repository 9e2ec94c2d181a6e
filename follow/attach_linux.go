package follow

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/perfprof/perfprof/internal/procfs"
	"github.com/perfprof/perfprof/pidtree"
	"golang.org/x/sys/unix"
)

// Cause is why a task could not be attached: a fact about the task, for
// the caller to explain.
type Cause uint8

const (
	// CauseOther: PTRACE_SEIZE failed with an errno the tracer does not
	// explain further (AttachError.Err).
	CauseOther Cause = iota
	// CauseNoProcess: there is no such task (ESRCH).
	CauseNoProcess
	// CauseTraced: another tracer holds the task (EPERM);
	// AttachError.TracerPID and TracerComm name it.
	CauseTraced
	// CauseZombie: the task has exited and waits to be reaped (EPERM).
	CauseZombie
	// CauseNotPermitted: ptrace refused the task (EPERM), and it is
	// neither traced nor a zombie: perfprof lacks CAP_SYS_PTRACE, or the
	// task is a kernel thread, or kernel.yama.ptrace_scope forbids it.
	CauseNotPermitted
	// CauseSelf: the task is perfprof's own (a process cannot trace its
	// own threads; EPERM).
	CauseSelf
)

func (c Cause) String() string {
	switch c {
	case CauseNoProcess:
		return "no such process"
	case CauseTraced:
		return "already traced"
	case CauseZombie:
		return "zombie"
	case CauseNotPermitted:
		return "not permitted"
	case CauseSelf:
		return "perfprof's own process"
	}
	return "other"
}

// AttachError says why a task could not be attached. Its Error is short
// and factual; the words users read, and what to do about it, are the
// caller's to choose from Cause.
type AttachError struct {
	PID   int
	Cause Cause
	Err   error // the seize errno: ESRCH for CauseNoProcess, EPERM for the others but CauseOther
	// TracerPID is the task's other tracer, and TracerComm that tracer's
	// command name when the seize failed ("" if it was gone): with
	// CauseTraced.
	TracerPID  int
	TracerComm string
}

// Error returns e.g. "attach to 4242: already traced by process 4200".
func (e *AttachError) Error() string {
	switch e.Cause {
	case CauseTraced:
		return fmt.Sprintf("attach to %d: already traced by process %d", e.PID, e.TracerPID)
	case CauseOther:
		return fmt.Sprintf("attach to %d: %v", e.PID, e.Err)
	}
	return fmt.Sprintf("attach to %d: %s", e.PID, e.Cause)
}

func (e *AttachError) Unwrap() error { return e.Err }

// attachError explains a failed PTRACE_SEIZE on tid.
func (t *Tracer) attachError(tid int, err error) *AttachError {
	e := &AttachError{PID: tid, Err: err}
	switch {
	case errors.Is(err, unix.ESRCH):
		e.Cause = CauseNoProcess
	case errors.Is(err, unix.EPERM):
		if tp := tracerOf(tid); tp != 0 && tp != t.self {
			e.Cause, e.TracerPID, e.TracerComm = CauseTraced, tp, Comm(tp)
		} else if zombie(tid) {
			e.Cause = CauseZombie
		} else {
			e.Cause = CauseNotPermitted
		}
	}
	return e
}

// AttachOptions say what Attach takes over.
type AttachOptions struct {
	// Thread attaches only the given thread, not its whole process.
	Thread bool
	// Tree also attaches the processes the target already has below it.
	Tree bool
}

// Attached is what Attach took over.
type Attached struct {
	TIDs []int // the tasks seized
	// ArmErr is the first error of the ArmFunc: those tasks are followed
	// without devices.
	ArmErr error
	// Skipped are the processes below the target (AttachOptions.Tree)
	// that could not be attached, each with its reason.
	Skipped []*AttachError
}

// Attach seizes a running process (every thread of it, rescanning
// /proc/PID/task until no thread is missing) and arms each task. The
// tasks keep running; they are detached, not killed, when the tracer
// stops. An error for the target itself is an *AttachError. Attach may be
// called before Run, or while the tracer runs (Options.Linger keeps it
// running for that with no task left).
func (t *Tracer) Attach(pid int, opt AttachOptions, arm ArmFunc) (Attached, error) {
	r := &attachRequest{call: newCall(), pid: pid, opt: opt, arm: arm}
	if err := t.do(r, r.done); err != nil {
		return Attached{}, err
	}
	return r.attached, r.err
}

// attach runs on the tracer thread.
func (t *Tracer) attach(pid int, opt AttachOptions, arm ArmFunc) (a Attached, err error) {
	procs := []int{pid}
	var seized []*pidtree.Node
	for i := 0; i < len(procs); i++ {
		got, err := t.seizeProcess(procs[i], opt.Thread)
		if err != nil {
			if i == 0 {
				return a, err
			}
			t.logf("ATTACH %d (descendant of %d): %v", procs[i], pid, err)
			var ae *AttachError
			if errors.As(err, &ae) {
				a.Skipped = append(a.Skipped, ae)
			}
			continue
		}
		seized = append(seized, got...)
		if opt.Tree && i == len(procs)-1 {
			// Rescan until no descendant is missing: a process not yet
			// seized may fork while we work.
			for _, d := range descendants(pid) {
				if !slices.Contains(procs, d) {
					procs = append(procs, d)
				}
			}
		}
	}
	// Arm only now that every task is seized: a fork by one of them waits
	// in its event stop until the loop runs, and by then its devices are
	// linked, so that the child gets a clone of them.
	for _, n := range seized {
		devs, aerr := arm(n.Task())
		for _, d := range devs {
			t.tree.Link(n, d)
		}
		if aerr != nil && a.ArmErr == nil {
			a.ArmErr = aerr
		}
		a.TIDs = append(a.TIDs, n.TID)
	}
	return a, nil
}

// seizeProcess seizes pid's threads (or just pid with thread).
func (t *Tracer) seizeProcess(pid int, thread bool) ([]*pidtree.Node, error) {
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return nil, &AttachError{PID: pid, Cause: CauseNoProcess, Err: unix.ESRCH}
	}
	st, _ := procfs.ReadStatus(pid)
	tgid := st.TGID
	if tgid == 0 {
		tgid = pid
	}
	if tgid == t.self {
		// ptrace would say EPERM: a process cannot trace its own threads.
		return nil, &AttachError{PID: pid, Cause: CauseSelf, Err: unix.EPERM}
	}
	if tgid != pid {
		st, _ = procfs.ReadStatus(tgid)
	}
	ppid := st.PPID
	// The threads of one process share a Proc: that of a thread of it
	// already followed (another -t, or a thread the process created), else
	// a new one.
	proc := t.procOf(tgid)
	if proc == 0 {
		proc = t.newProc()
	}
	parentProc := t.procOf(ppid)
	var nodes []*pidtree.Node
	tried := map[int]bool{}
	try := func(tid int) error {
		tried[tid] = true
		if t.tree.Find(tid) != nil {
			return nil
		}
		err := seize(tid, seizeOptions)
		if err != nil {
			if errors.Is(err, unix.EPERM) && tracerOf(tid) == t.self {
				// Auto-attached already, as the child of a task we
				// seized: its first stop will come through the loop.
				return nil
			}
			return t.attachError(tid, err)
		}
		n, _ := t.tree.Insert(tid, tgid, ppid, false)
		n.Proc, n.ParentProc = proc, parentProc
		nodes = append(nodes, n)
		t.counts.followed.Add(1)
		t.logf("SEIZE %d (process %d)", tid, tgid)
		return nil
	}
	if thread {
		if err := try(pid); err != nil {
			return nil, err
		}
		return nodes, nil
	}
	leaderErr := try(pid)
	if leaderErr != nil {
		var ae *AttachError
		if !errors.As(leaderErr, &ae) || ae.Cause == CauseTraced || !errors.Is(leaderErr, unix.EPERM) {
			return nil, leaderErr
		}
		// A zombie leader whose threads live: follow the threads.
		if st, err := procfs.ReadStat(pid); err != nil || st.State != 'Z' {
			return nil, leaderErr
		}
		t.logf("SEIZE %d: zombie leader, attaching its threads", pid)
	}
	for {
		tids, err := procfs.Threads(pid)
		if err != nil {
			break
		}
		added := false
		for _, tid := range tids {
			if tried[tid] {
				continue
			}
			added = true
			if err := try(tid); err != nil {
				t.logf("SEIZE %d: %v", tid, err)
			}
		}
		if !added {
			break
		}
	}
	if len(nodes) == 0 && leaderErr != nil {
		return nil, leaderErr
	}
	return nodes, nil
}

// procOf returns the Proc of followed process tgid, 0 if it is not
// followed. Precondition: on the tracer thread.
func (t *Tracer) procOf(tgid int) uint64 {
	if tgid <= 0 {
		return 0
	}
	if n := t.tree.Find(tgid); n != nil && n.TGID == tgid {
		return n.Proc // its leader
	}
	var proc uint64
	t.tree.Ascend(func(n *pidtree.Node) bool {
		if n.TGID == tgid && n.Proc != 0 {
			proc = n.Proc
			return false
		}
		return true
	})
	return proc
}
