// Package session is one run of perfprof: it builds the pipeline a
// Config describes and runs it until the targets end or it is stopped.
//
//	targets → follower → devices → model → writers
//
// Its parts:
//
//   - The follower takes the targets over (Config.Argv, PIDs, TIDs,
//     Cgroup) and follows them: the ptrace tracer (follow.Tracer), with
//     NoFollow the untraced watch of the targets alone (follow.Untraced),
//     or with --follow inherit the kernel's inheritance (inherit.Follower).
//     The run knows it only through the follower interface (run.go).
//   - The devices give each task its counters, and a ring when sampling.
//     For the tracer and the untraced watch they are a profdev.Set: the
//     follower arms each target, and the tracer's hooks (hooks.go) give
//     each new task its creator's observation while it is held in its
//     first stop. The inherit follower is its own devices: the kernel
//     copies its per-CPU groups into each new task. The reports read
//     either through the observer interface (run.go).
//   - The model (report.Model) learns of each device's start and end and
//     makes the reports; the profiles (profiles.Builder, behind its Sink)
//     learn of each process and take its samples.
//   - The writers: the report stream (stream.Stream), the sample writer
//     (stream.SampleWriter), the profile files and --pprof-dir (profiles),
//     the Prometheus metrics (metrics). The run's own figures are a
//     runstats.Run, each part filled by its owner. A new writer is one
//     more consumer of the model, the samples or the Run.
//
// It prints no message: what it has to say (an error, a warning) goes to
// its Reporter as a value — an error of the package that failed, or one of
// this package's warning types — and cmd/perfprof words it, with its hint
// and the exit status. Its report goes to the stream; its -v log and the
// Reporter's lines go through a stream.Messages, which a daemon redirects
// into its report once attached.
//
// # Goroutines
//
// Run runs on the caller's goroutine (main): it builds the pipeline,
// attaches the targets, then waits in watch for the signals the caller
// catches, the timers (-i, --duration, --kill-after) and the end of the
// run, writes the interval reports and the final one, and the summary. The
// tracer goroutine (one locked thread) serves every ptrace request and
// wait, and runs the hooks on the stop path: a new task's devices, its
// fork, exec and exit records. The ring owner goroutine (profdev) reads
// every ring and runs the sample writer. With --follow inherit there is
// no tracer: the inherit follower's reader goroutine reads its per-CPU
// rings, runs the model's sink, the sample writer and the task records,
// and a goroutine of its own reaps the workload. The report stream's writer
// goroutine writes JSON and queued lines. The cgroup watch and the metrics
// server have goroutines of their own. None of these belongs to this
// package, which holds no lock: its state is the main goroutine's, but for
// the follower's figures (an atomic pointer), which the metrics read.
//
// A new task goes: the tracer's fork stop → hooks.Fork → profdev.Set.Fork
// (its devices, its ring added to the ring owner) → report.Model.Started
// (and profiles.Builder) → PTRACE_CONT. A sample goes: the kernel's ring →
// the ring owner → stream.SampleWriter → a line of the report, or
// profiles.Builder.
package session
