package follow

import (
	"github.com/perfprof/perfprof/pidtree"
	"golang.org/x/sys/unix"
)

// ForkKind is how a task was created.
type ForkKind uint8

const (
	Fork ForkKind = iota + 1
	VFork
	Clone
)

func (k ForkKind) String() string {
	switch k {
	case Fork:
		return "fork"
	case VFork:
		return "vfork"
	case Clone:
		return "clone"
	}
	return "unknown"
}

// ForkEvent describes a new task, held in its first stop. Its Task says
// which process it belongs to: ParentTID's process for a thread (the same
// Proc), else a new process (a new Proc, whose ParentProc is ParentTID's).
type ForkEvent struct {
	pidtree.Task
	Kind      ForkKind
	ParentTID int // the task that created it
}

// ExitEvent describes a task the tracer reaped.
type ExitEvent struct {
	pidtree.Task
	Status unix.WaitStatus
}

// ExecEvent describes a completed execve: Task is the task after it (TID is
// its process's leader's), OldTID the thread that called it.
type ExecEvent struct {
	pidtree.Task
	OldTID int
}

// Hooks receives process-tree changes. The tracer calls them on its own
// goroutine, on the stop path, so they must return quickly and must not
// call back into the Tracer.
type Hooks interface {
	// Fork is called while the new task is held in its first stop, before
	// it runs its first instruction. parent holds the devices linked to
	// the creating task; Fork returns the devices for the new one (each is
	// linked with Use). An error is counted and logged; the task is still
	// followed, without those devices.
	Fork(ev ForkEvent, parent []pidtree.Device) ([]pidtree.Device, error)
	// Exec is called when a task completed an execve; ev.OldTID is the
	// thread that called it (not ev.TID when a non-leader thread exec'd:
	// that thread now has the leader's TID and the old leader is gone).
	// devs are the devices linked to the task.
	Exec(ev ExecEvent, devs []pidtree.Device)
	// Died is called for a new task that ended before its first stop,
	// or in it before its parent's event came: it ran no instruction of
	// its own and has no devices. When its parent's event never came,
	// ev.ParentTID is 0, ev.TGID and ev.PPID are what the task's first
	// stop found (0 if it was already gone), ev.Kind is Clone for a
	// thread of another process, else 0, and ev.Proc is its process's if
	// the tracer follows it, else a new one.
	Died(ev ForkEvent, ws unix.WaitStatus)
	// Exit is called when a task was reaped (or, for the old leader of an
	// exec from another thread, replaced), before its devices are
	// unlinked.
	Exit(ev ExitEvent, devs []pidtree.Device)
}
