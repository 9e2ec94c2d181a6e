//go:build amd64 || arm64

package follow

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// sigaction mirrors the kernel's struct sigaction on amd64 and arm64.
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// defaultSIGCHLD sets SIGCHLD's disposition to SIG_DFL with a raw
// rt_sigaction, behind the Go runtime's back. The runtime installs a
// handler for it, so every tracee stop would interrupt this process with a
// signal nobody listens to; with SIG_DFL the kernel does not even queue
// it. perfprof does not use os/signal for SIGCHLD.
func defaultSIGCHLD() {
	var sa sigaction // SIG_DFL
	unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD), uintptr(unsafe.Pointer(&sa)), 0, 8, 0, 0)
}
