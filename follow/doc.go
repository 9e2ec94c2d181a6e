// Package follow is perfprof's ptrace engine: it takes over target tasks
// (launching a workload or seizing running processes), follows every task
// they create, and lets them all go again. It owns the tracer thread, the
// task tree (a pidtree), the run's task figures (Tracer.RunStats), and
// each task's identity: its process instance (pidtree.Task.Proc), given
// at launch, attach and fork by one allocator, so that a reused pid is
// told apart in one place.
//
// It also owns the untraced watch (Untraced), for a run that counts the
// targets' own tasks without ptrace (--no-follow): the same Launch,
// Attach, ArmFunc and process identities, the same Stop, Forward and
// RunStats, with no task followed beyond the targets.
//
// It knows nothing of counters. The caller links devices to tasks through
// Hooks and ArmFunc; follow keeps them in the pidtree and hands a parent's
// devices to Hooks.Fork when the child needs its own.
//
// An attach that fails is an *AttachError whose Cause says why (no such
// process, traced by another, a zombie, not permitted, perfprof itself):
// follow states the fact, and the caller chooses the words and the
// advice.
//
// # In a nutshell
//
//  1. Targets are seized with PTRACE_SEIZE and the options in the same call:
//     TRACEFORK|TRACEVFORK|TRACECLONE|TRACEEXEC|TRACESYSGOOD, plus EXITKILL
//     for the workload. A workload is started as a re-executed stub of this
//     binary that waits on a pipe; it is seized and armed there, then execs.
//  2. The tracer blocks in wait4(-1, __WALL) and handles each stop inline.
//  3. A fork, vfork or clone event: GETEVENTMSG names the child; the parent
//     is continued at once.
//  4. The child's first stop (PTRACE_EVENT_STOP) may come before or after
//     its parent's event. When both were seen, Hooks.Fork clones the
//     parent's devices onto the child, and only then is it continued: its
//     counters see its first instruction.
//  5. Signal-delivery-stops are continued with their signal (re-injected).
//     A group-stop (PTRACE_EVENT_STOP with SIGSTOP, SIGTSTP, SIGTTIN or
//     SIGTTOU) is answered with PTRACE_LISTEN, so the task stays stopped;
//     the trap that follows its SIGCONT is continued.
//  6. An exec event re-keys a non-leader thread that exec'd to the leader's
//     TID. An exit is passed to Hooks.Exit, then the task's devices are
//     unlinked.
//  7. Stop kills workload tasks (SIGKILL) and interrupts the others
//     (PTRACE_INTERRUPT); each is detached at its next stop, with the
//     signal of that stop if it was a signal-delivery-stop, and stays in
//     group-stop if it was stopped. Zombie leaders and tasks that were
//     already exiting never stop again: a grace check every 300 ms finds
//     them in /proc and leaves them to the kernel.
//
// # Goroutines and threads
//
// One goroutine locks an OS thread for the Tracer's life and makes every
// ptrace request and every wait: the kernel accepts requests for a tracee
// only from the thread that attached it. It owns the pidtree, the stats
// and the process allocator. Run, Launch, Attach, Stats, Stop, Forward
// and Close are typed requests (requests_linux.go: one type per kind, with
// its arguments and its reply) served by that goroutine, before Run or
// while the wait loop runs. The loop blocks in wait4, which only a state
// change of a child ends: a waker process, started once per Tracer, stops
// itself (SIGSTOP) whenever a request is queued, and the loop, which waits
// with WUNTRACED, continues it and serves the request (about 0.13 ms at the
// median during a fork storm, BenchmarkRequest). SIGCHLD is set back to its
// default disposition so that the kernel does not signal perfprof at every
// tracee stop. Hooks and ArmFuncs run on that goroutine. RunStats reads
// atomics and may be called from any goroutine.
//
// The Untraced watch has one goroutine too, started by Run, which blocks
// in wait4 for the workload or in poll(2) on the targets' pidfds; its
// Launch and Attach run on the caller's goroutine before Run.
//
// Files: tracer_linux.go (the Tracer and the wait loop), requests_linux.go
// (the requests), events_linux.go (what each stop means and what is done
// about it), stop_linux.go (letting go: Stop, the grace check, Forward),
// attach_linux.go (Attach and AttachError), launch_linux.go (the launch
// stub), waker_linux.go, untraced_linux.go (the untraced watch),
// counts.go (the process allocator and the task figures), proc_linux.go
// (what is read from /proc, through internal/procfs).
//
// The package's init runs the launch stub or a waker when the process was
// started as one, and never returns into main then.
package follow
