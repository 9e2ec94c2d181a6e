// Package profdev owns the observation of each followed task, from the
// moment it is armed or born to the moment it ends: a Dev is one task's
// counter group (later also its ring), and a Set is the live Devs of a
// run, all counting the same events.
//
//   - Arm opens a Dev on a task the tracer took over; Fork gives a task
//     born under a followed one the same observation as its creator (a
//     clone of its Dev, or a new one if the creator has none), while the
//     new task is held in its first stop; Exec and Exit record what the
//     tracer saw. The tracer's pidtree links Devs to tasks and releases
//     them with Use and Unuse.
//   - When the last user releases a Dev (the task was reaped, or let go),
//     the Dev reads its final counts, closes its file descriptors and
//     leaves the Set, which hands a compact Final to its sink (the report
//     model): the Set holds live devices only, so its memory and fds
//     follow the live tasks, not every task that ever lived.
//   - Read reads the live Devs for a report.
//
// profdev knows nothing of ptrace: it sees tasks as pidtree.Task, whose
// process identity (Proc) the tracer gives. cmd/perfprof connects it to
// the tracer.
//
// # Concurrency
//
// Arm, Fork, Exec, Exit, Use and Unuse are called by the tracer goroutine;
// Read may run at the same time on another goroutine (interval reports),
// and so may Close at the end. Each Dev has its own lock, held for one
// read or one close; the Set's lock guards the set of live Devs only, and
// is never held while the sink runs. A Dev that ends while Read runs is
// read as not Valid: it counts by its Final.
package profdev
