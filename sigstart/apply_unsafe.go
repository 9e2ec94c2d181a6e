//go:build linux && (amd64 || arm64)

package sigstart

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelSigaction is struct sigaction as rt_sigaction(2) takes it on
// amd64 and arm64 (both have sa_restorer).
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const (
	sigDFL = 0
	sigIGN = 1
)

// SetDefault gives sig its default disposition with a raw rt_sigaction,
// behind the Go runtime's back (which keeps its handler installed
// otherwise).
func SetDefault(sig unix.Signal) error { return setDisposition(sig, false) }

// setDisposition sets sig to SIG_IGN, or to SIG_DFL.
func setDisposition(sig unix.Signal, ignore bool) error {
	sa := kernelSigaction{handler: sigDFL}
	if ignore {
		sa.handler = sigIGN
	}
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&sa)), 0, 8, 0, 0); e != 0 {
		return e
	}
	return nil
}

// Apply gives the calling thread the mask blocked, and every signal but
// SIGKILL and SIGSTOP the disposition SIG_IGN if it is in ignored, else
// SIG_DFL. It is for a process that is about to exec, and must run on a
// locked thread right before execve: the Go runtime's handlers are gone
// once it returns, and a signal that arrives before the exec takes its
// default action, as it would in the program being started. execve keeps
// both the ignored dispositions and the mask.
func Apply(ignored, blocked Set) error {
	for sig := unix.Signal(1); sig <= 64; sig++ {
		if sig == unix.SIGKILL || sig == unix.SIGSTOP {
			continue
		}
		// Signals 32 and 33 are reserved by glibc but settable by the
		// kernel; EINVAL only for a signal number it does not know.
		if err := setDisposition(sig, ignored.Has(sig)); err != nil && err != unix.EINVAL {
			return err
		}
	}
	mask := uint64(blocked)
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&mask)), 0, 8, 0, 0); e != 0 {
		return e
	}
	return nil
}
