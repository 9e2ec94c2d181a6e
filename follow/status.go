package follow

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// StopKind is what a wait status means for a seized tracee.
type StopKind uint8

const (
	// StopNone: not a stop (the task exited or was killed).
	StopNone StopKind = iota
	// StopFork, StopVFork, StopClone: the task created a child.
	StopFork
	StopVFork
	StopClone
	// StopExec: the task finished an execve.
	StopExec
	// StopEvent: PTRACE_EVENT_STOP with SIGTRAP: a new child's first stop,
	// the answer to PTRACE_INTERRUPT, or the trap after SIGCONT ended a
	// group-stop.
	StopEvent
	// StopGroup: PTRACE_EVENT_STOP with a stopping signal: group-stop.
	StopGroup
	// StopSignal: signal-delivery-stop; the signal must be re-injected.
	StopSignal
	// StopSyscall: syscall-stop (SIGTRAP|0x80); perfprof never asks for them.
	StopSyscall
	// StopOther: another ptrace event (EXIT, VFORK_DONE, SECCOMP).
	StopOther
)

var stopNames = [...]string{"none", "FORK", "VFORK", "CLONE", "EXEC", "EVENT_STOP", "GROUP_STOP", "SIGNAL", "SYSCALL", "OTHER"}

func (k StopKind) String() string {
	if int(k) < len(stopNames) {
		return stopNames[k]
	}
	return fmt.Sprintf("StopKind(%d)", uint8(k))
}

// decode classifies a wait status. It reads the event from status>>16
// itself: WaitStatus.TrapCause returns -1 for a seized group-stop
// (SIGSTOP | PTRACE_EVENT_STOP<<8), which would make it look like a signal.
// sig is the stop signal (the signal to re-inject for StopSignal).
func decode(ws unix.WaitStatus) (kind StopKind, sig unix.Signal) {
	if !ws.Stopped() {
		return StopNone, 0
	}
	sig = ws.StopSignal()
	switch event := uint32(ws) >> 16; event {
	case 0:
		if sig == unix.SIGTRAP|0x80 {
			return StopSyscall, sig
		}
		return StopSignal, sig
	case unix.PTRACE_EVENT_FORK:
		return StopFork, sig
	case unix.PTRACE_EVENT_VFORK:
		return StopVFork, sig
	case unix.PTRACE_EVENT_CLONE:
		return StopClone, sig
	case unix.PTRACE_EVENT_EXEC:
		return StopExec, sig
	case unix.PTRACE_EVENT_STOP:
		switch sig {
		case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
			return StopGroup, sig
		}
		return StopEvent, sig
	}
	return StopOther, sig
}
