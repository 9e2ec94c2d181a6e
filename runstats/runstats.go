// Package runstats holds a run's own figures: how many tasks were
// followed, how many counters and rings could not be opened, how many
// samples were written or lost, how often the report could not be
// written. It is a leaf: each part of a run fills its own part of a Run
// (follow the Tasks, profdev the Devices, the sample writer the Samples,
// the report stream the Report), and the summary, the JSON summary record
// and the metrics read the same Run.
//
// A Run is a plain value: whoever fills one reads its owner's counters
// (atomics, or a request to the owner's goroutine) at that moment.
package runstats

import "time"

// Run is the figures of a run, each part filled by its owner.
type Run struct {
	Tasks   Tasks
	Devices Devices
	Samples Samples
	Report  Report
	// Elapsed is the time since the run began to count; CPU is
	// perfprof's own CPU time (its threads, not the workload's).
	Elapsed, CPU time.Duration
}

// Tasks are the follower's figures.
type Tasks struct {
	Followed int // tasks followed: attached, launched and created
	Created  int // tasks the followed ones created (forks, clones)
	Ended    int // followed tasks that ended
	Left     int // tasks still held when the follower ended (zombies left to the kernel)
}

// Devices are the counters' and the rings' figures (profdev.Set).
type Devices struct {
	Opened   int   // devices opened
	Live     int   // devices open now
	Failures int   // tasks followed without counters
	FirstErr error // why the first of them had none
	// Sampling only:
	RingFailures  int   // tasks followed without a ring (counted, not sampled)
	FirstRingErr  error // why the first of them had none
	RingBytesPeak int64 // the most ring memory (data pages) mapped at once
	BadRecords    int64 // ring records that could not be decoded
	Late, Early   int64 // with --order: samples handed on out of time order, and before their time
}

// Samples are the sample writer's figures.
type Samples struct {
	Sampling bool  // the run samples (the other fields mean something)
	Written  int64 // samples written (or given to the profiles)
	Lost     int64 // records the kernel dropped: a ring was full
}

// Report is the report stream's figures.
type Report struct {
	// WriteFailures counts the runs of failed writes (a daemon's full
	// disk), each once.
	WriteFailures int64
}
