// Package profiles turns the samples of a followed process tree into
// symbolized profiles, one per process: it owns the per-process
// aggregation of call stacks and the profile formats (pprof, folded
// stacks, the text "top").
//
// A Builder learns of each process as the tracer arms its first task
// (Start), and reads its mappings from /proc/PID/maps then: a created
// process is held before its first instruction, with its creator's. It then takes
// the samples and the mapping records of each task's ring (Sample, Mmap,
// Exec: the ring owner's side of profdev.SideBandSink), in each ring's
// order. A stack is symbolized (package symbol) the first time its
// process shows it, while the process lives, so that a child that lives
// 20 ms keeps its symbols; after that, a sample of it costs a map lookup.
//
// WritePprof, WriteFolded and WriteTop write what a Builder holds. The
// sample types of a pprof profile come from the run's []perfevent.Spec:
// an event whose Spec.Unit is Nanoseconds (the clocks, with any modifier:
// task-clock:u too) is "cpu" in nanoseconds, any other a count of itself;
// nothing is decided from an event's name. WritePprof encodes the
// profile.proto message itself (proto.go): google/pprof's profile package
// compiled regexps at init in every perfprof process, profiles or not;
// the tests read what WritePprof writes with it.
//
// A Dir is --pprof-dir: a profile of each interval (Dir.Cut), written
// into a directory atomically, named by the time the interval ended, the
// newest kept.
//
// A Builder is safe for concurrent use (its mutex; the ring owner adds
// samples while the tracer starts processes and main writes); a Dir is
// used by one goroutine, the one that cuts the intervals.
package profiles
