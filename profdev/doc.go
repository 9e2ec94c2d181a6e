// Package profdev holds perfprof's profiling devices: a Dev is one counter
// group (one set of events) on one task, and a Set is every Dev of a run.
//
// A Dev is opened for each task the tracer takes over and cloned, with
// Clone, for each task created after that, while the new task is held in
// its first stop. Devices are reference-counted with Use and Unuse (the
// tracer's pidtree links them to tasks); when the last user goes, the Dev
// reads its final counts and closes its file descriptors. The counts stay
// in the Set for the report.
//
// profdev knows nothing of ptrace: cmd/perfprof connects it to the tracer.
//
// # Concurrency
//
// Open, Clone, Use, Unuse and SetExit are called by the tracer goroutine;
// Set.Read may run at the same time on another goroutine (interval
// reports). Each Dev has its own lock, held for one read or one close.
package profdev
