package perfevent

import (
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// RaiseFileLimit makes room for one fd per event per followed task. The Go
// runtime already raised the soft RLIMIT_NOFILE to the hard limit; as root
// (CAP_SYS_RESOURCE) the hard limit goes up to fs.nr_open too. It uses
// the prlimit64 system call itself, not syscall.Setrlimit or unix.Prlimit,
// so that Go still gives
// children (the workload) the limits perfprof was started with. It returns
// the soft limit in force.
func RaiseFileLimit() uint64 {
	var cur unix.Rlimit
	if err := prlimit(nil, &cur); err != nil {
		return 0
	}
	want := cur.Max
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && n > want {
			want = n
		}
	}
	// The soft limit is set one below the hard one, as the Go runtime
	// does: Go restores the original limit in children only if it finds
	// that value, which tells it nobody else changed the limit.
	if cur.Cur+1 >= want {
		return cur.Cur
	}
	if err := prlimit(&unix.Rlimit{Cur: want - 1, Max: want}, nil); err == nil {
		return want - 1
	}
	if cur.Cur+1 < cur.Max && prlimit(&unix.Rlimit{Cur: cur.Max - 1, Max: cur.Max}, nil) == nil {
		return cur.Max - 1
	}
	return cur.Cur
}

// prlimit is prlimit64(0, RLIMIT_NOFILE, newlim, old), bypassing the
// syscall package, which would stop restoring the original limit in
// children.
func prlimit(newlim, old *unix.Rlimit) error {
	_, _, e := unix.RawSyscall6(unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE,
		uintptr(unsafe.Pointer(newlim)), uintptr(unsafe.Pointer(old)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
