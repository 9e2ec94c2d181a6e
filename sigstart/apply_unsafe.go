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

// Apply gives the calling thread the mask blocked, and every signal but
// SIGKILL and SIGSTOP the disposition SIG_IGN if it is in ignored, else
// SIG_DFL. It is for a process that is about to exec, and must run on a
// locked thread right before execve: the Go runtime's handlers are gone
// once it returns, and a signal that arrives before the exec takes its
// default action, as it would in the program being started. execve keeps
// both the ignored dispositions and the mask.
func Apply(ignored, blocked Set) error {
	for sig := 1; sig <= 64; sig++ {
		if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
			continue
		}
		sa := kernelSigaction{handler: sigDFL}
		if ignored.Has(unix.Signal(sig)) {
			sa.handler = sigIGN
		}
		_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&sa)), 0, 8, 0, 0)
		// Signals 32 and 33 are reserved by glibc but settable by the
		// kernel; EINVAL only for a signal number it does not know.
		if e != 0 && e != unix.EINVAL {
			return e
		}
	}
	mask := uint64(blocked)
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&mask)), 0, 8, 0, 0); e != 0 {
		return e
	}
	return nil
}
