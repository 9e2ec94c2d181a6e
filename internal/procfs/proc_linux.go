package procfs

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// path returns /proc/ID/FILE.
func path(id int, file string) string {
	return "/proc/" + strconv.Itoa(id) + "/" + file
}

// ReadStat reads and parses /proc/TID/stat (TID may be any thread; a
// process's leader gives the process's state). An error for a task that
// is gone matches fs.ErrNotExist or unix.ESRCH.
func ReadStat(tid int) (Stat, error) {
	b, err := os.ReadFile(path(tid, "stat"))
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(b)
}

// ReadStatus reads and parses /proc/TID/status. An error for a task that
// is gone matches fs.ErrNotExist or unix.ESRCH.
func ReadStatus(tid int) (Status, error) {
	b, err := os.ReadFile(path(tid, "status"))
	if err != nil {
		return Status{}, err
	}
	return ParseStatus(b)
}

// Comm returns the command name of tid, "" if it is gone. It is on the
// tracer's exec path, so it makes three system calls (os.ReadFile makes
// five) and allocates only the name.
func Comm(tid int) string {
	var pbuf [32]byte
	p := strconv.AppendInt(append(pbuf[:0], "/proc/"...), int64(tid), 10)
	fd, err := unix.Open(string(append(p, "/comm"...)), unix.O_RDONLY|unix.O_CLOEXEC, 0)
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

// Threads lists the threads of process pid (/proc/PID/task), in the
// directory's order. An error for a process that is gone matches
// fs.ErrNotExist.
func Threads(pid int) ([]int, error) { return numbered(path(pid, "task")) }

// PIDs lists the processes in /proc.
func PIDs() ([]int, error) { return numbered("/proc") }

// numbered lists the entries of dir that are numbers (ids), in the
// directory's order.
func numbered(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	ids := make([]int, 0, len(ents))
	for _, e := range ents {
		if id, err := strconv.Atoi(e.Name()); err == nil {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
