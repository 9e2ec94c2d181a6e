package pidtree

import (
	"fmt"

	"github.com/google/btree"
)

// Device is something linked to a task for as long as the task is followed:
// a counter set, later a ring buffer. Use takes a reference and reports
// whether the device is still usable; Unuse drops it.
type Device interface {
	Use() bool
	Unuse()
}

// Phase is where a task stands in its birth handshake.
type Phase uint8

const (
	// Announced: the parent's fork/vfork/clone event was seen, the
	// child's first stop was not.
	Announced Phase = iota + 1
	// NewStopped: the child's first stop was seen, its parent's event was
	// not (the child won the race).
	NewStopped
	// Running: both halves were seen (or the task was attached), and the
	// tracer has taken it over.
	Running
)

func (p Phase) String() string {
	switch p {
	case Announced:
		return "announced"
	case NewStopped:
		return "new-stopped"
	case Running:
		return "running"
	}
	return fmt.Sprintf("Phase(%d)", uint8(p))
}

// Task is a task's identity, as the tracer hands it to the devices.
type Task struct {
	TID  int // the task (thread)
	TGID int // its process
	PPID int // the parent of its process (0 if unknown)
	// Proc tells processes apart where pids do not: the tracer gives a new
	// one to each process it launches, attaches or sees created, and a
	// thread has its process's. A process id the kernel reuses during a
	// run gets a new Proc; an exec keeps it.
	Proc uint64
	// ParentProc is the Proc of the process that created this one (0 if
	// that process is not followed).
	ParentProc uint64
	// Forked says that the task's process was created during the run, by
	// a fork (or vfork, or clone) the tracer saw: its address space began
	// as its creator's. An attached or launched one was not.
	Forked bool
}

// Thread reports whether the task is a thread other than its process's
// leader.
func (t Task) Thread() bool { return t.TID != t.TGID }

// Node is one followed task.
type Node struct {
	TID  int // the task (the kernel's "pid" in ptrace and wait)
	TGID int // its process
	PPID int // the process that created its process (0 if unknown)
	// Proc and ParentProc: see Task.
	Proc, ParentProc uint64

	Phase Phase
	// Parent is the creating task while the handshake is pending (Phase
	// Announced or after Announce on a NewStopped node); it is nil once
	// Complete ran or for attached tasks.
	Parent *Node

	// Workload tasks are killed on close; the others are detached.
	Workload bool
	// Detach is set when the tracer is letting go of the task: at its next
	// stop it is detached (or killed, for workload tasks).
	Detach bool

	// The fields below belong to the tracer; pidtree only stores them.

	Prelaunch bool  // a thread of the launch stub, before the workload's exec
	Kind      uint8 // how the tracer saw it created; 0: attached or launched

	// Devs are the devices linked to the task.
	Devs []Device

	refs   int32
	inTree bool
}

// Task returns n's identity.
func (n *Node) Task() Task {
	return Task{TID: n.TID, TGID: n.TGID, PPID: n.PPID, Proc: n.Proc, ParentProc: n.ParentProc, Forked: n.Kind != 0}
}

func (n *Node) String() string {
	if n == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%d(tgid %d, %s, refs %d)", n.TID, n.TGID, n.Phase, n.refs)
}

// Refs returns the number of references held on n.
func (n *Node) Refs() int { return int(n.refs) }

// Tree is the set of followed tasks, ordered by TID.
type Tree struct {
	idx      *btree.BTreeG[*Node]
	pivot    Node    // search key, reused so that lookups do not allocate
	free     []*Node // released nodes, reused by the next insert
	released int     // nodes whose last reference was dropped
	overPut  int     // Puts without a reference (caller bugs)
}

func less(a, b *Node) bool { return a.TID < b.TID }

// New returns an empty tree.
func New() *Tree {
	return &Tree{idx: btree.NewG(32, less)}
}

// Len returns the number of tasks in the index.
func (t *Tree) Len() int { return t.idx.Len() }

// Find returns the node of tid, or nil.
func (t *Tree) Find(tid int) *Node {
	t.pivot.TID = tid
	n, _ := t.idx.Get(&t.pivot)
	return n
}

// Ascend calls fn for each node in TID order until fn returns false. fn
// must not insert into or remove from the tree.
func (t *Tree) Ascend(fn func(*Node) bool) {
	t.idx.Ascend(fn)
}

// Nodes returns the nodes in TID order, a snapshot safe to iterate while
// changing the tree.
func (t *Tree) Nodes() []*Node {
	out := make([]*Node, 0, t.idx.Len())
	t.idx.Ascend(func(n *Node) bool { out = append(out, n); return true })
	return out
}

func (t *Tree) alloc(tid int) *Node {
	var n *Node
	if k := len(t.free); k > 0 {
		n = t.free[k-1]
		t.free = t.free[:k-1]
	} else {
		n = new(Node)
	}
	n.TID = tid
	n.refs = 1
	n.inTree = true
	t.idx.ReplaceOrInsert(n)
	return n
}

// Insert adds a task that is already running and traced (an attached
// target or the workload). It returns the existing node if tid is known.
func (t *Tree) Insert(tid, tgid, ppid int, workload bool) (n *Node, added bool) {
	if n := t.Find(tid); n != nil {
		return n, false
	}
	n = t.alloc(tid)
	n.TGID, n.PPID = tgid, ppid
	n.Phase = Running
	n.Workload = workload
	return n, true
}

// Announce records parent's fork, vfork or clone event naming child tid.
// The child inherits Workload and Detach from parent and references it
// until Complete. ready reports that the child's first stop was already
// seen, so the handshake is complete.
//
// If tid is known and past its handshake (its first stop was taken for
// something else), Announce returns it with ready false and changes
// nothing.
func (t *Tree) Announce(parent *Node, tid int) (child *Node, ready bool) {
	child = t.Find(tid)
	switch {
	case child == nil:
		child = t.alloc(tid)
		child.Phase = Announced
	case child.Phase == NewStopped && child.Parent == nil:
		ready = true
	default:
		return child, false
	}
	child.Parent = parent
	parent.refs++
	child.Workload = parent.Workload
	child.Detach = child.Detach || parent.Detach
	return child, ready
}

// FirstStop records the first stop of tid. A task that was not announced
// yet is created in phase NewStopped; ready reports that the parent's event
// was already seen. For a task past its handshake it returns the node with
// ready false.
func (t *Tree) FirstStop(tid int) (n *Node, ready bool) {
	n = t.Find(tid)
	switch {
	case n == nil:
		n = t.alloc(tid)
		n.Phase = NewStopped
		return n, false
	case n.Phase == Announced:
		n.Phase = NewStopped
		return n, true
	}
	return n, false
}

// Complete ends n's handshake: it drops the reference on the parent and
// marks n Running.
func (t *Tree) Complete(n *Node) {
	if p := n.Parent; p != nil {
		n.Parent = nil
		t.Put(p)
	}
	n.Phase = Running
}

// Link links d to n if d.Use succeeds, and reports whether it did.
func (t *Tree) Link(n *Node, d Device) bool {
	if d == nil || !d.Use() {
		return false
	}
	n.Devs = append(n.Devs, d)
	return true
}

// Unlink drops all devices of n.
func (t *Tree) Unlink(n *Node) {
	for i, d := range n.Devs {
		d.Unuse()
		n.Devs[i] = nil
	}
	n.Devs = n.Devs[:0]
}

// Rekey moves n to TID tid, replacing (and removing) a node already there.
// It is what an execve from a non-leader thread needs: the execing thread
// takes over the leader's TID. The replaced node is returned, already out
// of the index, with its index reference dropped.
func (t *Tree) Rekey(n *Node, tid int) (replaced *Node) {
	if n.TID == tid {
		return nil
	}
	if old := t.Find(tid); old != nil {
		t.Remove(old)
		replaced = old
	}
	if n.inTree {
		t.idx.Delete(n)
	} else {
		n.refs++ // the index's reference, dropped by Remove
	}
	n.TID = tid
	t.idx.ReplaceOrInsert(n)
	n.inTree = true
	return replaced
}

// Get takes a reference on n.
func (t *Tree) Get(n *Node) *Node {
	n.refs++
	return n
}

// Put drops a reference on n. When the last one goes, n's devices are
// unlinked, its own parent reference is dropped and the node is recycled:
// the caller must not use n afterwards.
func (t *Tree) Put(n *Node) {
	n.refs--
	if n.refs > 0 {
		return
	}
	if n.refs < 0 {
		// A Put without a matching reference: a bug in the caller. The
		// node was already recycled; leave it alone and count it.
		t.overPut++
		n.refs = 0
		return
	}
	if n.inTree {
		t.idx.Delete(n)
	}
	t.Unlink(n)
	parent := n.Parent
	devs := n.Devs
	*n = Node{Devs: devs[:0]}
	t.free = append(t.free, n)
	t.released++
	if parent != nil {
		t.Put(parent)
	}
}

// Remove takes n out of the index and drops the index's reference: the
// task is gone (reaped, or let go), and its TID may be reused at once.
// Children still waiting on n keep it, and its devices, alive.
func (t *Tree) Remove(n *Node) {
	if !n.inTree {
		return
	}
	t.idx.Delete(n)
	n.inTree = false
	t.Put(n)
}

// Released returns the number of nodes freed so far (for leak checks).
func (t *Tree) Released() int { return t.released }

// OverPuts returns the number of Puts that found no reference to drop. It
// is zero unless the caller has a bug; tests check it.
func (t *Tree) OverPuts() int { return t.overPut }
