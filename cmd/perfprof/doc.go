// Command perfprof counts and samples events for a process tree, with
// counters (and a ring) of their own for every child process and thread,
// opened before the child runs its first instruction.
//
// The command parses, wires and prints, and nothing else:
//
//   - main.go parses the command line into a session.Config and checks it
//     (usage errors, exit status 2), resolves the workload in $PATH, and
//     starts a daemon (internal/daemon) when asked;
//   - signals.go gives perfprof its signal dispositions and catches the
//     signals that stop a run, reopen a daemon's report or ask for a
//     report: the only goroutines it starts are the runtime's signal
//     delivery;
//   - it runs one session.Session, which builds the pipeline (targets →
//     follower → devices → model → writers) and runs it, on the main
//     goroutine (see package session for which goroutine owns what, and
//     where a new task and a sample go);
//   - messages.go words what the session reports (errors of the packages
//     below, the session's warnings) as one line each, with a hint where
//     there is something to do, and turns how the run ended into the exit
//     status: the workload's, 128+N if signal N killed it, 1 for a
//     failure, 126 or 127 when the workload cannot run.
package main
