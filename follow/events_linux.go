package follow

import (
	"strings"
	"time"

	"github.com/perfprof/perfprof/internal/procfs"
	"github.com/perfprof/perfprof/pidtree"
	"golang.org/x/sys/unix"
)

// handle acts on one wait result. Precondition: on the tracer thread.
func (t *Tracer) handle(pid int, ws unix.WaitStatus) {
	n := t.tree.Find(pid)
	if ws.Exited() || ws.Signaled() {
		if n == nil {
			// A waker, or a child that died before its first stop and
			// before its parent's event named it.
			return
		}
		t.exited(n, ws)
		return
	}
	kind, sig := decode(ws)
	switch kind {
	case StopFork, StopVFork, StopClone:
		t.forked(n, pid, ForkKind(kind-StopFork+1))
	case StopExec:
		t.execed(pid)
	case StopEvent:
		t.eventStop(n, pid)
	case StopGroup:
		t.groupStop(n, pid, sig)
	case StopSignal:
		if t.log != nil {
			t.logf("PTRACE %d SIGNAL %d", pid, sig)
		}
		if n != nil && n.TGID == t.workload && int(sig) < len(t.sigSeen) {
			t.sigSeen[sig] = time.Now()
		}
		if n == nil || n.Detach {
			t.release(n, pid, int(sig))
			return
		}
		t.cont(pid, int(sig))
	case StopNone:
		// WCONTINUED is never asked for.
	default:
		if t.log != nil {
			t.logf("PTRACE %d %v", pid, kind)
		}
		if n != nil && n.Detach {
			t.release(n, pid, 0)
			return
		}
		t.cont(pid, 0)
	}
}

func (t *Tracer) cont(pid, sig int) {
	if err := cont(pid, sig); err != nil {
		// ESRCH: killed while stopped; its death is reported next.
		t.logf("  CONT %d signo %d: %v", pid, sig, err)
		return
	}
	if t.log != nil {
		t.logf("  CONT %d signo %d", pid, sig)
	}
}

// release lets go of a task in a ptrace-stop: while stopping, workload
// tasks are resumed to die of SIGKILL; the others (and the launch stub's
// own threads, which its exec will end) are detached with sig.
func (t *Tracer) release(n *pidtree.Node, pid, sig int) {
	if n != nil && n.Workload && t.stopping {
		// A task forked after the stop began never got the SIGKILL.
		if n.TGID > 0 {
			unix.Tgkill(n.TGID, pid, unix.SIGKILL)
		}
		t.cont(pid, 0)
		return
	}
	err := detach(pid, sig)
	if t.log != nil {
		t.logf("  DETACH %d signo %d (%v)", pid, sig, errOrOK(err))
	}
	if n != nil {
		if err == nil {
			t.stats.Detached++
		}
		t.forget(n)
	}
}

func errOrOK(err error) any {
	if err == nil {
		return "ok"
	}
	return err
}

// forget removes n from the tree; it no longer reports to us.
func (t *Tracer) forget(n *pidtree.Node) {
	t.dropWaiting(n)
	t.tree.Remove(n)
}

// forked handles a parent's fork, vfork or clone event.
func (t *Tracer) forked(parent *pidtree.Node, pid int, kind ForkKind) {
	tid, err := eventMsg(pid)
	if err != nil {
		t.logf("PTRACE %d %v: GETEVENTMSG: %v", pid, kind, err)
		return
	}
	if t.log != nil {
		t.logf("PTRACE %d %s %d", pid, strings.ToUpper(kind.String()), tid)
	}
	if parent == nil {
		t.logf("BUG: event from unknown task %d", pid)
		detach(pid, 0)
		return
	}
	if _, ok := t.early[tid]; ok {
		// Reaped already: Died reported it.
		delete(t.early, tid)
		if parent.Detach {
			t.release(parent, pid, 0)
		} else {
			t.cont(pid, 0)
		}
		return
	}
	child, ready := t.tree.Announce(parent, tid)
	if child.Parent != parent {
		t.logf("BUG: task %d announced twice", tid)
		t.cont(pid, 0)
		return
	}
	child.Kind = uint8(kind)
	if kind == Clone && isThread(parent.TGID, tid) {
		child.TGID, child.PPID = parent.TGID, parent.PPID
		child.Proc, child.ParentProc = parent.Proc, parent.ParentProc
	} else {
		child.TGID, child.PPID = tid, parent.TGID
		child.Proc, child.ParentProc = t.newProc(), parent.Proc
	}
	child.Prelaunch = parent.Prelaunch
	// Resume the parent first: a parent that forks in a loop must not wait
	// for its children's counters, and a vfork parent must run so that its
	// child can.
	if parent.Detach {
		t.release(parent, pid, 0)
	} else {
		t.cont(pid, 0)
	}
	if ready {
		t.stats.ChildFirst++
		t.dropWaiting(child)
		t.start(child)
	}
}

// eventStop handles PTRACE_EVENT_STOP with SIGTRAP.
func (t *Tracer) eventStop(n *pidtree.Node, pid int) {
	if n == nil || n.Phase == pidtree.Announced {
		if t.log != nil {
			t.logf("PTRACE %d initial stop", pid)
		}
		c, ready := t.tree.FirstStop(pid)
		if ready {
			t.start(c)
			return
		}
		// Held until the parent's event names it. Its process is read
		// now: if it dies before that event comes (an exit_group of its
		// process, or its parent killed), it can no longer be read, and
		// its records must still name its process.
		c.TGID, c.PPID = processOf(pid)
		c.Detach = c.Detach || t.stopping
		t.waiting = append(t.waiting, c)
		return
	}
	if n.Phase == pidtree.NewStopped {
		t.logf("BUG: second initial stop of %d", pid)
		return
	}
	if t.log != nil {
		t.logf("PTRACE %d EVENT_STOP (interrupt or SIGCONT)", pid)
	}
	if n.Detach {
		t.release(n, pid, 0)
		return
	}
	t.cont(pid, 0)
}

// groupStop handles PTRACE_EVENT_STOP with a stopping signal.
func (t *Tracer) groupStop(n *pidtree.Node, pid int, sig unix.Signal) {
	if t.log != nil {
		t.logf("PTRACE %d group-stop %d", pid, sig)
	}
	if n == nil || n.Phase != pidtree.Running {
		// A new child whose first stop reports the group's stop signal
		// (its process is stopped): it is still its initial stop.
		t.eventStop(n, pid)
		return
	}
	if n.Detach {
		// Detached in group-stop, the task stays stopped until SIGCONT.
		t.release(n, pid, 0)
		return
	}
	// PTRACE_CONT would resume the task and lose the stop; LISTEN keeps it
	// stopped and reports the SIGCONT.
	if err := listen(pid); err != nil {
		t.logf("  LISTEN %d: %v", pid, err)
		return
	}
	if t.log != nil {
		t.logf("  LISTEN %d", pid)
	}
}

// start completes a new child's handshake: it clones the parent's devices
// onto it and resumes it. Precondition: child is in its first stop.
func (t *Tracer) start(c *pidtree.Node) {
	parent := c.Parent
	if !c.Prelaunch {
		t.counts.followed.Add(1)
	}
	if parent == nil {
		t.tree.Complete(c)
		t.release(c, c.TID, 0)
		return
	}
	// Even a child let go at once (born while stopping) is reported and
	// gets its counters: every fork event has its record.
	if !c.Prelaunch {
		t.counts.created.Add(1)
		ev := ForkEvent{Task: c.Task(), Kind: ForkKind(c.Kind), ParentTID: parent.TID}
		devs, err := t.opt.Hooks.Fork(ev, parent.Devs)
		for _, d := range devs {
			t.tree.Link(c, d)
		}
		if err != nil {
			t.stats.ForkFailures++
			t.logf("  CLONE devices for %d: %v", c.TID, err)
		}
	}
	t.tree.Complete(c)
	if c.Prelaunch || c.Detach {
		// A task of the launch stub, not of the workload (the exec that
		// starts the workload ends it), or one born while stopping.
		t.release(c, c.TID, 0)
		return
	}
	t.cont(c.TID, 0)
}

// execed handles PTRACE_EVENT_EXEC on pid.
func (t *Tracer) execed(pid int) {
	old, err := eventMsg(pid)
	if err != nil {
		old = pid
	}
	if t.log != nil {
		t.logf("PTRACE %d EXEC (was %d)", pid, old)
	}
	t.stats.Execs++
	if old != pid {
		// A non-leader thread exec'd: it took the leader's TID, and the
		// old leader is gone without an exit report of its own.
		if n := t.tree.Find(old); n != nil {
			if leader := t.tree.Find(pid); leader != nil {
				t.counts.ended.Add(1)
				t.opt.Hooks.Exit(ExitEvent{Task: leader.Task()}, leader.Devs)
			}
			t.tree.Rekey(n, pid)
		}
	}
	n := t.tree.Find(pid)
	if n == nil {
		t.logf("BUG: exec of unknown task %d", pid)
		detach(pid, 0)
		return
	}
	n.Prelaunch = false
	if n.Detach {
		t.release(n, pid, 0)
		return
	}
	// Resume first: the task cannot be reaped before this loop waits for
	// it, so Hooks.Exec can still read it in /proc.
	t.cont(pid, 0)
	t.opt.Hooks.Exec(ExecEvent{Task: n.Task(), OldTID: old}, n.Devs)
}

// exited handles the reaping of a followed task.
func (t *Tracer) exited(n *pidtree.Node, ws unix.WaitStatus) {
	pid := n.TID
	if t.log != nil {
		if ws.Exited() {
			t.logf("EXIT %d code %d", pid, ws.ExitStatus())
		} else {
			t.logf("EXIT %d signal %d", pid, ws.Signal())
		}
	}
	t.stats.Exits++
	t.counts.ended.Add(1)
	if ws.Signaled() && len(t.waiting) > 0 {
		t.adoptOrphans(n)
	}
	switch {
	case n.Phase == pidtree.Running:
		t.opt.Hooks.Exit(ExitEvent{Task: n.Task(), Status: ws}, n.Devs)
	case n.Parent != nil:
		// Announced by its parent, killed before its first stop.
		t.counts.followed.Add(1)
		t.counts.created.Add(1)
		t.opt.Hooks.Died(ForkEvent{Task: n.Task(), Kind: ForkKind(n.Kind), ParentTID: n.Parent.TID}, ws)
	default:
		// Killed in its first stop before its parent's event came: the
		// event may still come, and must not make a new task of it. Its
		// process was read at its first stop; a thread of another
		// process can only come from clone.
		t.counts.followed.Add(1)
		t.counts.created.Add(1)
		ev := ForkEvent{Task: n.Task()}
		if ev.Proc = t.procOf(ev.TGID); ev.Proc == 0 || !ev.Thread() {
			ev.Proc = t.newProc()
			ev.ParentProc = t.procOf(ev.PPID)
		}
		if ev.TGID != 0 && ev.Thread() {
			ev.Kind = Clone
		}
		if t.log != nil {
			t.logf("  DIED %d (process %d) before its parent's event", pid, n.TGID)
		}
		t.opt.Hooks.Died(ev, ws)
		if len(t.early) >= maxEarly {
			clear(t.early) // parents killed before reporting: forget them
		}
		t.early[pid] = struct{}{}
	}
	if pid == t.workload {
		t.result.Workload, t.result.HaveWorkload = ws, true
	}
	t.forget(n)
}

// adoptOrphans handles children whose parent was killed between waking
// them and reporting its fork event: that event never comes. A waiting
// child whose parent process is the killed task's is announced now.
func (t *Tracer) adoptOrphans(dead *pidtree.Node) {
	for _, c := range append([]*pidtree.Node(nil), t.waiting...) {
		st, err := procfs.ReadStat(c.TID)
		if err != nil || st.PPID != dead.TGID {
			continue
		}
		t.logf("ORPHAN %d of %d", c.TID, dead.TID)
		t.tree.Announce(dead, c.TID)
		c.TGID, c.PPID, c.Kind = c.TID, dead.TGID, uint8(Fork)
		c.Proc, c.ParentProc = t.newProc(), dead.Proc
		t.dropWaiting(c)
		t.start(c)
	}
}

func (t *Tracer) dropWaiting(n *pidtree.Node) {
	for i, w := range t.waiting {
		if w == n {
			t.waiting = append(t.waiting[:i], t.waiting[i+1:]...)
			return
		}
	}
}
