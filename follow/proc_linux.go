package follow

import (
	"github.com/perfprof/perfprof/internal/procfs"
	"golang.org/x/sys/unix"
)

// Readers of /proc, through internal/procfs. None of them runs on the
// fork path except isThread, and processOf for a child whose first stop
// came before its parent's event.

// isThread reports whether tid belongs to process tgid: tgkill with
// signal 0 checks exactly that (ESRCH otherwise), in one syscall and
// without a /proc path walk. tid is held stopped by the caller, so it
// cannot exit and be reused meanwhile.
func isThread(tgid, tid int) bool {
	return unix.Tgkill(tgid, tid, 0) == nil
}

// tracerOf returns the TracerPid of tid (0 if untraced or unknown).
func tracerOf(tid int) int {
	st, _ := procfs.ReadStatus(tid)
	return st.TracerPID
}

// zombie reports whether tid has exited and waits to be reaped.
func zombie(tid int) bool {
	st, err := procfs.ReadStat(tid)
	return err == nil && st.Zombie()
}

// Comm returns the command name of tid, "" if it is gone. It is on the
// exec path, so it makes three system calls (os.ReadFile makes five).
func Comm(tid int) string { return procfs.Comm(tid) }

// Threads lists the threads of process pid.
func Threads(pid int) ([]int, error) { return procfs.Threads(pid) }

// ProcessOf returns the process of task tid, 0 if it is gone.
func ProcessOf(tid int) int {
	tgid, _ := processOf(tid)
	return tgid
}

// descendants returns the processes below pid (children, grandchildren,
// ...) from one scan of /proc (it does not need CONFIG_PROC_CHILDREN).
func descendants(pid int) []int {
	pids, err := procfs.PIDs()
	if err != nil {
		return nil
	}
	kids := make(map[int][]int)
	for _, p := range pids {
		if st, err := procfs.ReadStat(p); err == nil {
			kids[st.PPID] = append(kids[st.PPID], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range kids[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// processOf returns the process (TGID) of task tid and that process's
// parent, or zeros if tid is gone. It asks the kernel through a pidfd
// (PIDFD_GET_INFO, Linux 6.13) where it can: three system calls, 2.9 µs
// on the 2-CPU VM of docs/performance.md (BenchmarkProcessOf). Otherwise
// it reads /proc/TID/status, about 16 µs.
func processOf(tid int) (tgid, ppid int) {
	if tgid, ppid, ok := pidfdProcessOf(tid); ok {
		return tgid, ppid
	}
	st, _ := procfs.ReadStatus(tid)
	return st.TGID, st.PPID
}

// signalPending reports whether sig is pending for process pid: in its
// shared pending set (a signal sent to the process or its process group,
// waiting for a thread that does not block it) or in its leader's own.
func signalPending(pid int, sig unix.Signal) bool {
	st, err := procfs.ReadStatus(pid)
	return err == nil && st.Pending(int(sig))
}
