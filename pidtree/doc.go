// Package pidtree tracks the tasks a tracer follows: one refcounted Node
// per thread, indexed by its TID in a B-tree, with the devices (counter
// sets, rings) linked to it and the task's identity (Task: TID, TGID,
// PPID, and the process instance Proc that tells a reused pid apart).
//
// It is the Go form of perf-prof's pid_node tree and is pure data: no
// syscalls, no I/O. The tracer (package follow) decides what a stop means
// and gives each process its Proc; pidtree remembers what was seen.
//
// # The birth handshake
//
// A traced task that forks, vforks or clones produces two notifications, in
// either order: the parent's event stop (which names the child) and the
// child's own first stop. A child may only be resumed after both were seen,
// because only then is it stopped and known to belong to a followed parent.
//
//   - Insert adds a task that is taken over whole (attached or launched):
//     it is Running at once.
//   - Announce records the parent's event. The child node takes a reference
//     on its parent, so that the parent's devices stay linked (and open) even
//     if the parent exits before the child stops.
//   - FirstStop records the child's stop.
//   - Whichever comes second returns ready; the tracer then clones the
//     parent's devices onto the child (Link), calls Complete and resumes
//     the child.
//   - Rekey moves a node to its leader's TID when a non-leader thread
//     execs.
//
// # Lifetime
//
// A node holds one reference for being in the index and one for each child
// that still waits on it. Remove takes a node out of the index at once (its
// TID may be reused by the next fork) and drops the index's reference; the
// node's devices are unlinked (Device.Unuse) when the last reference goes
// (Put), and the node is recycled for a later insert.
//
// # Concurrency
//
// A Tree belongs to one goroutine (the tracer's) and has no lock. A Task is
// a plain value, safe to hand to any goroutine.
package pidtree
