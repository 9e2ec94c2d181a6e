// Package sigstart records the signal dispositions and the signal mask
// that the process was started with, and gives them back to a child
// before it execs.
//
// A Go program cannot see them: before any Go code runs, the runtime
// installs its own handler for most signals (an ignored SIGPIPE, SIGTERM
// or SIGUSR1 is then caught, and a child it starts gets the default
// action), and it unblocks the signals it needs (a blocked SIGTERM comes
// out unblocked). A wrapper such as perfprof must hand its workload what
// it was itself given, as a shell's exec would. So sigstart reads both in
// a C constructor, which runs before the Go runtime starts (the technique
// of runc's nsenter), and keeps them in the form /proc/PID/status shows
// as SigIgn and SigBlk.
//
// sigstart owns that record and the raw system calls that restore it. A
// build without cgo cannot read it: Known then reports false, and callers
// must say so rather than guess.
package sigstart
