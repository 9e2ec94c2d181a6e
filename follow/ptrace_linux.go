package follow

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Thin wrappers for the ptrace requests x/sys lacks or gets wrong for us:
// PtraceSeize takes no options, PtraceDetach takes no signal, and there is
// no PTRACE_LISTEN. Every function here must run on the tracer thread.
//
// The ptrace requests use RawSyscall: none of them blocks (the tracee is
// already in a ptrace-stop, or the request does not wait for it), so the
// runtime's syscall bookkeeping, and the P hand-off it may cause, would
// only add to every stop. wait4 blocks, and uses Syscall.

// Options set on every seized task. EXITKILL is added for workload tasks.
const seizeOptions = unix.PTRACE_O_TRACEFORK |
	unix.PTRACE_O_TRACEVFORK |
	unix.PTRACE_O_TRACECLONE |
	unix.PTRACE_O_TRACEEXEC |
	unix.PTRACE_O_TRACESYSGOOD

func ptrace(req, pid int, addr, data uintptr) error {
	for {
		_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, uintptr(req), uintptr(pid), addr, data, 0, 0)
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

// seize attaches to pid with opts in the same call, so that no fork between
// the attach and a later SETOPTIONS can escape.
func seize(pid int, opts int) error {
	return ptrace(unix.PTRACE_SEIZE, pid, 0, uintptr(opts))
}

// cont resumes pid, delivering sig (0 for none).
func cont(pid, sig int) error { return ptrace(unix.PTRACE_CONT, pid, 0, uintptr(sig)) }

// listen restarts pid from a group-stop without ending it: the task stays
// stopped until SIGCONT, and the tracer is told when that happens.
func listen(pid int) error { return ptrace(unix.PTRACE_LISTEN, pid, 0, 0) }

// interrupt makes a running seized pid trap with PTRACE_EVENT_STOP. It
// returns 0 and no trap ever comes if the task is already exiting.
func interrupt(pid int) error { return ptrace(unix.PTRACE_INTERRUPT, pid, 0, 0) }

// detach lets pid go, delivering sig. pid must be in a ptrace-stop.
func detach(pid, sig int) error { return ptrace(unix.PTRACE_DETACH, pid, 0, uintptr(sig)) }

// eventMsg returns PTRACE_GETEVENTMSG: the new TID at a fork event, the
// former TID at an exec event.
func eventMsg(pid int) (int, error) {
	var msg uint64
	err := ptrace(unix.PTRACE_GETEVENTMSG, pid, 0, uintptr(unsafe.Pointer(&msg)))
	return int(msg), err
}

// wait blocks until a child or tracee changes state. __WALL makes it report
// clone children (threads) too, WUNTRACED the stop of the waker, an
// untraced child (a tracee's stops are reported without it). EINTR is
// retried.
func wait(ws *unix.WaitStatus) (int, error) {
	for {
		pid, err := unix.Wait4(-1, ws, unix.WALL|unix.WUNTRACED, nil)
		if err != unix.EINTR {
			return pid, err
		}
	}
}
