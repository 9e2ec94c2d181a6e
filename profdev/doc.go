// Package profdev owns the observation of each followed task, from the
// moment it is armed or born to the moment it ends: a Dev is one task's
// counter group (and, in a sampling set, its ring), and a Set is the live
// Devs of a run, all counting (or sampling) the same events. The set's
// figures (devices opened and live, tasks without counters or rings, ring
// memory, --order's late samples) are Set.Stats, a runstats.Devices.
//
// profdev knows nothing of ptrace: it sees tasks as pidtree.Task, whose
// process identity (Proc) the follower gives, and the follower's hooks
// are Set's methods. Package session connects the two.
//
// # Where a new task goes
//
// Arm opens a Dev on a task the follower took over (attached, or launched
// and held before its exec); Fork gives a task born under a followed one
// the same observation as its creator (a new Dev, named after the
// creator's), while the task is held in its first stop, so that the
// counters see its first instruction. In a sampling set the Dev's ring is
// mapped there and handed to the ring owner (add). Then Sink.Started
// tells the report model. Exec and Exit record what the follower saw; its
// pidtree links Devs to tasks and releases them with Use and Unuse.
//
// When the last user releases a Dev (the task was reaped, or let go), or
// Set.Close ends the run, the Dev ends: its final counts are read, its
// fds closed, it leaves the Set, and its Final goes to Sink.Ended. The
// Set holds live devices only, so its memory and fds follow the live
// tasks, not every task that ever lived. Read reads the live Devs for a
// report.
//
// # Where a sample goes
//
// With EnableSampling, one goroutine, the ring owner, reads every ring of
// the set. The kernel wakes it through one epoll when a ring has records
// (at every sample, or at a watermark); it reads the ring to its end
// (drains it), decodes each record, and hands each sample to
// SampleSink.Sample, and the side-band records (mappings, execs) to a
// SideBandSink, in each ring's order. With Order, the samples wait in a
// heap and go on in time order at the end of each round (OrderWindow).
// After each round the owner calls SampleSink.Flush. Set.ReadRingsNow has
// it drain every ring at once, for a report of the samples so far.
//
// # Who does what
//
//	what                         who, on which goroutine
//	---------------------------  ------------------------------------------
//	open a Dev, Sink.Started     Arm's or Fork's caller (the follower)
//	Use, Unuse, Exec, Exit       the follower
//	Read, Stats, ReadRingsNow    any goroutine (a report, the metrics)
//	map a ring                   the opener, as it opens the Dev
//	read (drain) a ring          the ring owner, only
//	end a Dev, Sink.Ended        counting set: the releaser (Unuse's caller,
//	                             or Close's); sampling set: the ring owner,
//	                             always
//	unmap a ring                 the releaser, only, once the ring owner
//	                             handed it back drained
//	Sample, Flush, Lost,         the ring owner, one at a time
//	  Mmap, Exec (side band)
//
// In a sampling set, releasing a Dev sends the ring owner a retire
// request and returns: the owner, in its next round (within Batch ms),
// drains the ring to its end, ends the Dev, and hands the ring back. The
// releaser's next release unmaps the rings handed back since its last,
// on its own thread (the tracer's, which runs anyway, while the owner
// mostly waits: an unmap takes the address space's lock and interrupts
// the CPUs that run perfprof's other threads). No record is lost to the
// unmap, and the sink sees a Dev's last sample before its Final.
// Set.Close releases every live Dev, stops the owner, which serves what
// is queued first, and unmaps the last rings: when Close returns, every
// Final and every sample has reached the sinks.
//
// # Concurrency
//
// Each Dev has its own lock, held for one read, one close, or one change
// of its task's identity; the Set's lock guards the set of live Devs
// only; the ring owner's lock guards its request queue only. None is held
// while a sink runs. A Dev that ends while Read runs is read as not
// Valid: it counts by its Final.
package profdev
