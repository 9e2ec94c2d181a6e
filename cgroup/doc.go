// Package cgroup watches a cgroup v2 directory for the processes that
// enter it, for perfprof's --cgroup: it checks that a directory is one
// (Check), reads its processes (Procs, Untraced), and, while a run goes
// on, hands each process that enters it and that no one traces to an
// attach callback (Start).
//
// It knows nothing of ptrace or counters: the caller's Options.Attach
// takes a process over (perfprof's is follow.Tracer.Attach), and what the
// watch could not do comes back as error values through Options.Warn,
// for the caller to word. It never prints.
//
// # Goroutines
//
// Start runs one goroutine that owns the watch: it waits for a change of
// the cgroup's cgroup.events (inotify: the file changes when the cgroup
// becomes populated or empty, as when systemd restarts a service) or for
// the rescan timer (a process moved into a cgroup that was not empty
// changes no cgroup.events), reads cgroup.procs and calls Attach for
// every process no one traces, then Warn for each failure. Attach and
// Warn run on that goroutine, one call at a time. A second goroutine
// only reads the inotify fd and wakes the first. Stop ends both and
// returns when no callback runs any more.
package cgroup
