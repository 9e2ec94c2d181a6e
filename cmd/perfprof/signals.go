package main

import (
	"os"
	"os/signal"

	"github.com/perfprof/perfprof/sigstart"
	"golang.org/x/sys/unix"
)

// stopSignals end a run: Ctrl-C, Ctrl-\, kill's default, and the hang-up
// of the terminal.
var stopSignals = []unix.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT}

// keepIgnored are the signals perfprof goes on ignoring if it was started
// ignoring them, as the workload will: `nohup perfprof ...` keeps ignoring
// SIGHUP, and a background job of a shell without job control keeps
// ignoring SIGINT and SIGQUIT. Not SIGCHLD (the tracer waits for its
// tracees; ignored, the kernel would reap them), nor SIGURG and SIGPROF
// (the Go runtime's preemption and profiler), nor the synchronous signals.
var keepIgnored = []unix.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGALRM,
	unix.SIGTERM, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGXCPU, unix.SIGXFSZ,
	unix.SIGVTALRM, unix.SIGWINCH, unix.SIGIO, unix.SIGPWR,
}

// setupSignals gives perfprof its signal dispositions, before any task is
// launched or attached, and returns the channel of stop signals.
//
//   - What perfprof was started ignoring it keeps ignoring (keepIgnored),
//     except that with a workload (launch) it still catches the stop
//     signals, to pass them on: the workload may have changed its own
//     disposition, and `kill -INT <perfprof>` must reach it as `kill -INT
//     <workload>` would. Such a signal never stops perfprof (see watch).
//   - SIGPIPE is ignored: a report written to a pipe whose reader is gone
//     fails with EPIPE, which perfprof reports and stops on, rather than
//     dying silently.
//   - The other stop signals are caught.
//
// The workload is given the dispositions and the mask perfprof was started
// with, whatever these are (follow's launch stub, sigstart).
//
// A daemon's SIGHUP reopens its report file (logrotate), not a stop; in
// every run SIGUSR1, unless ignored at start, writes a report now.
func setupSignals(launch, daemon bool) (stop, hup, usr1 chan os.Signal) {
	for _, sig := range keepIgnored {
		if sigstart.IgnoredAtStart(sig) {
			signal.Ignore(sig)
		}
	}
	signal.Ignore(unix.SIGPIPE)
	stop = make(chan os.Signal, 8)
	for _, sig := range stopSignals {
		if sig == unix.SIGHUP && daemon {
			continue
		}
		if launch || !sigstart.IgnoredAtStart(sig) {
			signal.Notify(stop, sig)
		}
	}
	if daemon {
		hup = make(chan os.Signal, 1)
		signal.Notify(hup, unix.SIGHUP)
	}
	if !sigstart.IgnoredAtStart(unix.SIGUSR1) {
		usr1 = make(chan os.Signal, 1)
		signal.Notify(usr1, unix.SIGUSR1)
	}
	return stop, hup, usr1
}

// releaseSignals stops the delivery of signals to the channels.
func releaseSignals(chans ...chan os.Signal) {
	for _, ch := range chans {
		if ch != nil {
			signal.Stop(ch)
		}
	}
}
