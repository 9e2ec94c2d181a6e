package perfevent

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// IDs appends the kernel's id of each event of the group, in spec order, to
// dst (samples carry it: PERF_SAMPLE_IDENTIFIER).
func (g *Group) IDs(dst []uint64) ([]uint64, error) {
	for _, fd := range g.fds {
		var id uint64
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.PERF_EVENT_IOC_ID, uintptr(unsafe.Pointer(&id))); e != 0 {
			return dst, fmt.Errorf("event id: %w", os.NewSyscallError("ioctl", e))
		}
		dst = append(dst, id)
	}
	return dst, nil
}
