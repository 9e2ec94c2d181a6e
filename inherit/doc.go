// Package inherit follows a process tree by kernel inheritance, with no
// ptrace stop: the second follower (--follow inherit), beside package
// follow's tracer.
//
// The events are opened on each target (the launched workload before its
// exec, each thread of an attached process) once per CPU, with inherit:
// Linux copies them into every task the target creates, before it runs,
// and into the tasks those create. The kernel refuses to map the ring of
// an inherited event opened on every CPU at once (cpu -1), hence events
// per CPU, as perf record opens them. On each target and CPU there are two
// groups (perfevent.SideBandAttrs, CountingAttrs), and each CPU has two
// rings, whatever the target: the side band and the samples, which only
// that CPU writes; the READ records and the pulses, which every CPU may
// write (a task's copies write their final counts from the CPU it exits
// on). A counting ring that two CPUs wrote at once can stall for good:
// the reader replaces one that stays silent while a task's READ records
// are due in it, and the counts it took are lost, said, never guessed.
//
// The facts come from the records in the rings: PERF_RECORD_FORK and
// EXIT give the tree, COMM with the exec flag the execs, and, with
// inherit_stat, each task's final counts come as PERF_RECORD_READ at its
// end, one per event and CPU. A target's own counts are its groups' reads
// less those of the tasks that inherited them, once none of those is
// alive. What the kernel does not give is not guessed: a task's exit
// status (but the workload leader's, which perfprof reaps), the counts
// of a task alive at the end of an attach, live counts between reports.
//
// # Who does what
//
//	what                              who
//	--------------------------------  --------------------------------------
//	open a target's groups            Launch's or Attach's caller
//	read the rings, the task table,   the reader goroutine (Run), under mu;
//	  Sink, Samples, Events             Attach takes mu to add a target
//	reap the workload                 its own goroutine, blocked in wait4
//	Read, Stats, RunStats             any goroutine
//	close the groups, unmap rings     the reader, as the run ends
//
// The reader reads every ring every 100 ms, or when one is half full,
// copies the new records into a merger, and hands on, in time order, those
// older than the moment it began reading: a task's FORK comes before its
// first sample on another CPU, an exec's mappings before the samples that
// use them. The run ends when every target's events hang up (the target
// and every task that inherited from it ended), after a last read.
package inherit
