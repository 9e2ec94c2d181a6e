// Command perfprof counts and samples events for a process tree, with
// counters (and a ring) of their own for every child process and thread,
// opened before the child runs its first instruction.
//
// The command only parses, wires and prints: it parses the command line
// (main.go), builds one pipeline (session.go), runs it until it ends
// (run.go, watch.go), and turns what the packages below report into
// messages, hints and exit statuses (messages.go, follower.go). Every part
// that runs lives in the package that owns its kind of work.
//
// # The pipeline
//
//	targets → follower → devices → model → writers
//
// Its parts:
//
//   - The follower takes the targets over and follows them: the ptrace
//     tracer (follow.Tracer), or with --no-follow the untraced watch of
//     the targets alone (follow.Untraced); --cgroup adds the processes
//     that enter a cgroup (package cgroup). The run knows it only as a
//     follower.
//   - The devices (profdev.Set) give each task its counters, and a ring
//     when sampling: the follower arms each target, and the tracer's
//     hooks (hooks.go) give each new task its creator's observation while
//     it is held in its first stop.
//   - The model (report.Model) learns of each device's start and end and
//     makes the reports; the profiles (profiles.Builder) learn of each
//     process and take its samples.
//   - The writers: the report stream (stream.Stream: tables or JSON
//     lines, task events, the summary), the sample writer
//     (stream.SampleWriter: sample lines, or samples into the profiles),
//     the profile files (profiles), the Prometheus metrics (metrics). The
//     run's own figures are a runstats.Run, filled by each owner.
//
// # Goroutines
//
// The main goroutine builds the pipeline, attaches the targets, then waits
// in watch for the signals (signals.go), the timers (-i, --duration,
// --kill-after) and the end of the run, writes the interval reports and
// the final one, and prints every message. The tracer goroutine (one
// locked thread) serves every ptrace request and wait, and runs the hooks
// on the stop path: a new task's devices, its fork, exec and exit records.
// The ring owner goroutine (profdev) reads every ring and runs the sample
// writer. The report stream's writer goroutine writes JSON and queued
// lines. The cgroup watch and the metrics server have goroutines of their
// own. None of these belongs to this package, which holds no lock.
//
// A new task goes: the tracer's fork stop → hooks.Fork → profdev.Set.Fork
// (its devices, its ring added to the ring owner) → report.Model.Started
// (and profiles.Builder) → PTRACE_CONT. A sample goes: the kernel's ring →
// the ring owner → stream.SampleWriter → a line of the report, or
// profiles.Builder.
package main
