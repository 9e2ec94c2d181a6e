package follow

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pidfdInfo is struct pidfd_info up to its first size (PIDFD_INFO_SIZE_VER0).
type pidfdInfo struct {
	Mask     uint64
	CgroupID uint64
	PID      uint32
	TGID     uint32
	PPID     uint32
	_        [9]uint32 // ruid rgid euid egid suid sgid fsuid fsgid exit_code
}

const (
	pidfdGetInfo = 0xc040ff0b // _IOWR(PIDFS_IOCTL_MAGIC, 11, struct pidfd_info), 64 bytes
	pidfdInfoPID = 1 << 0
)

// pidfdUnsupported is set once PIDFD_GET_INFO failed for a reason other
// than the task being gone: the kernel is older than 6.13.
var pidfdUnsupported atomic.Bool

func pidfdProcessOf(tid int) (tgid, ppid int, ok bool) {
	if pidfdUnsupported.Load() {
		return 0, 0, false
	}
	fd, err := unix.PidfdOpen(tid, unix.PIDFD_THREAD)
	switch {
	case err == unix.ESRCH:
		return 0, 0, true
	case err == unix.EINVAL || err == unix.ENOSYS:
		pidfdUnsupported.Store(true) // no PIDFD_THREAD (Linux < 6.9)
		fallthrough
	case err != nil:
		return 0, 0, false
	}
	defer unix.Close(fd)
	info := pidfdInfo{Mask: pidfdInfoPID}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), pidfdGetInfo, uintptr(unsafe.Pointer(&info)))
	switch {
	case e == unix.ESRCH:
		return 0, 0, true // reaped
	case e == unix.ENOTTY || e == unix.EINVAL:
		pidfdUnsupported.Store(true) // no PIDFD_GET_INFO (Linux < 6.13)
		fallthrough
	case e != 0:
		return 0, 0, false
	}
	return int(info.TGID), int(info.PPID), true
}

// setComm sets the calling thread's (and, on the main thread, the
// process's) command name.
func setComm(name string) {
	b := append([]byte(name), 0)
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0)
}
