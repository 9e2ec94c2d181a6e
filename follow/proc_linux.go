package follow

import (
	"bytes"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Readers of /proc. None of them runs on the fork path except isThread.

// isThread reports whether tid belongs to process tgid: tgkill with
// signal 0 checks exactly that (ESRCH otherwise), in one syscall and
// without a /proc path walk. tid is held stopped by the caller, so it
// cannot exit and be reused meanwhile.
func isThread(tgid, tid int) bool {
	return unix.Tgkill(tgid, tid, 0) == nil
}

// procStat holds the fields of /proc/PID/stat that the tracer needs.
type procStat struct {
	State byte
	PPID  int
}

// readStat reads /proc/TID/stat (TID may be any thread).
func readStat(tid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// comm may hold spaces and parentheses: the fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procStat{}, unix.EINVAL
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 2 {
		return procStat{}, unix.EINVAL
	}
	ppid, _ := strconv.Atoi(f[1])
	return procStat{State: f[0][0], PPID: ppid}, nil
}

// statusFields returns the values of the "Name:" lines of /proc/TID/status
// for names, in one read ("" for a name it lacks).
func statusFields(tid int, names ...string) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return nil, err
	}
	vals := make([]string, len(names))
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for i, n := range names {
			if n == name {
				vals[i] = strings.TrimSpace(v)
			}
		}
	}
	return vals, nil
}

// statusInts returns the values of names in /proc/TID/status as integers
// (0 for a name it lacks, or if tid is gone).
func statusInts(tid int, names ...string) []int {
	vals, _ := statusFields(tid, names...)
	n := make([]int, len(names))
	for i, v := range vals {
		n[i], _ = strconv.Atoi(v)
	}
	return n
}

func statusInt(tid int, name string) int { return statusInts(tid, name)[0] }

// tracerOf returns the TracerPid of tid (0 if untraced or unknown).
func tracerOf(tid int) int { return statusInt(tid, "TracerPid") }

// Comm returns the command name of tid, "" if it is gone. It is on the
// exec path, so it makes three system calls (os.ReadFile makes five).
func Comm(tid int) string {
	var pbuf [32]byte
	path := strconv.AppendInt(append(pbuf[:0], "/proc/"...), int64(tid), 10)
	fd, err := unix.Open(string(append(path, "/comm"...)), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	var buf [64]byte // comm is at most 16 bytes with its newline
	n, _ := unix.Read(fd, buf[:])
	unix.Close(fd)
	if n <= 0 {
		return ""
	}
	return strings.TrimSuffix(string(buf[:n]), "\n")
}

// threads lists /proc/PID/task.
func threads(pid int) ([]int, error) {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// descendants returns the processes below pid (children, grandchildren,
// ...) from one scan of /proc (it does not need CONFIG_PROC_CHILDREN).
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	kids := make(map[int][]int)
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(p); err == nil {
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
	v := statusInts(tid, "Tgid", "PPid")
	return v[0], v[1]
}

// signalPending reports whether sig is pending for process pid: in its
// shared pending set (a signal sent to the process or its process group,
// waiting for a thread that does not block it) or in its leader's own.
func signalPending(pid int, sig unix.Signal) bool {
	vals, err := statusFields(pid, "ShdPnd", "SigPnd")
	if err != nil || sig < 1 || sig > 64 {
		return false
	}
	for _, v := range vals {
		set, err := strconv.ParseUint(v, 16, 64)
		if err == nil && set&(1<<(sig-1)) != 0 {
			return true
		}
	}
	return false
}
