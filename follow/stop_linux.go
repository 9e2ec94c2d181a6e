package follow

import (
	"time"

	"github.com/perfprof/perfprof/internal/procfs"
	"github.com/perfprof/perfprof/pidtree"
	"golang.org/x/sys/unix"
)

// graceDelay is how long a stopping tracer waits before it checks for
// tasks that cannot report any more.
const graceDelay = 300 * time.Millisecond

// Stop lets go of every followed task: workload tasks are killed, attached
// tasks are detached and left as they were (a task in group-stop stays
// stopped). It returns at once; Wait tells when it is done. Stop may be
// called from any goroutine, any number of times.
func (t *Tracer) Stop() {
	t.stopOnce.Do(func() { t.post(stopRequest{}) })
}

// beginStop lets go of everything. Precondition: on the tracer thread.
func (t *Tracer) beginStop() {
	if t.stopping {
		return
	}
	t.stopping = true
	t.result.Stopped = true
	t.logf("STOP: %d tasks", t.tree.Len())
	killed := map[int]bool{}
	for _, n := range t.tree.Nodes() {
		if n.Detach {
			continue
		}
		n.Detach = true
		if n.Workload {
			// PTRACE_KILL is deprecated; a SIGKILL to the process ends
			// every thread of it, stopped or not.
			if pid := n.TGID; pid > 0 && !killed[pid] {
				killed[pid] = true
				unix.Kill(pid, unix.SIGKILL)
				t.logf("  KILL %d", pid)
			} else if n.TGID == 0 && n.TID > 0 {
				unix.Tgkill(n.TID, n.TID, unix.SIGKILL)
			}
			continue
		}
		switch n.Phase {
		case pidtree.Running:
			// It traps at once (or never, if it is already exiting: then
			// its death comes instead). A task in group-stop traps too,
			// and is detached still stopped.
			err := interrupt(n.TID)
			t.logf("  INTERRUPT %d (%v)", n.TID, errOrOK(err))
		case pidtree.NewStopped:
			// Held in its first stop; its parent's event detaches it.
		case pidtree.Announced:
			// Its first stop detaches it.
		}
	}
	t.armGrace()
}

// armGrace schedules a check of the tasks that may never report again: a
// zombie leader (its exit is reported only after its other threads), a
// task that was already exiting when interrupted, a child held in its
// first stop whose parent was killed before reporting the fork.
func (t *Tracer) armGrace() {
	if t.graceTimer != nil {
		return
	}
	t.graceTimer = time.AfterFunc(graceDelay, func() {
		select {
		case <-t.done:
			return
		case t.reqs <- graceRequest{}:
		}
		t.wake()
	})
}

// graceCheck runs on the tracer thread.
func (t *Tracer) graceCheck() {
	t.graceTimer = nil
	for _, n := range t.tree.Nodes() {
		st, err := procfs.ReadStat(n.TID)
		switch {
		case err != nil || st.Zombie():
			// Gone, or a zombie the kernel releases when we exit.
			t.logf("  LEAVE %d (zombie or gone)", n.TID)
			t.forget(n)
		case n.Workload:
			unix.Tgkill(n.TGID, n.TID, unix.SIGKILL)
		case n.Phase == pidtree.NewStopped:
			t.release(n, n.TID, 0)
		case n.Phase == pidtree.Running:
			interrupt(n.TID)
		}
	}
	if t.tree.Len() > 0 {
		t.armGrace()
	}
}

// forwardWindow is how long before Forward was asked a signal delivery to
// the workload still counts as the delivery of the same signal.
const forwardWindow = time.Second

// Forward delivers sig to the launched workload's process unless it has
// received sig already: a terminal's Ctrl-C signals the whole foreground
// process group, perfprof and the workload alike, while kill(1) signals
// perfprof alone. at is when perfprof received sig. The workload counts as
// having received it if sig is pending for its process (blocked, or not
// yet taken), or if one of its threads stopped to take delivery of it
// since forwardWindow before at. Like Stop, it returns at once and may be
// called from any goroutine. Without a workload, or once it exited or the
// tracer is stopping, it does nothing.
func (t *Tracer) Forward(sig unix.Signal, at time.Time) {
	t.post(forwardRequest{sig: sig, at: at})
}

// forward runs on the tracer thread.
func (t *Tracer) forward(sig unix.Signal, at time.Time) {
	w := t.workload
	if w == 0 || t.stopping || t.tree.Find(w) == nil || int(sig) >= len(t.sigSeen) {
		return
	}
	// Pending first, then the stops: a signal taken after the /proc read
	// left its pending set and put its thread in a signal-delivery-stop
	// (both under the task's siglock), which the drain then reports.
	pending := signalPending(w, sig)
	t.drain()
	if t.tree.Find(w) == nil {
		return // it exited meanwhile
	}
	if pending || t.sigSeen[sig].After(at.Add(-forwardWindow)) {
		if t.log != nil {
			t.logf("FORWARD %s: %d has it already", unix.SignalName(sig), w)
		}
		return
	}
	err := unix.Kill(w, sig)
	t.logf("FORWARD %s to %d (%v)", unix.SignalName(sig), w, errOrOK(err))
}

// drain handles the stops and exits that are already waiting, without
// blocking. Precondition: on the tracer thread.
func (t *Tracer) drain() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WALL|unix.WUNTRACED|unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		t.dispatch(pid, ws)
	}
}
