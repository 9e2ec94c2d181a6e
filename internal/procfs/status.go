package procfs

import (
	"bytes"
	"strconv"
)

// Status holds the fields of /proc/PID/status (proc_pid_status(5)) that
// perfprof reads. A field the file lacks stays zero.
type Status struct {
	State     byte // the letter of "State:", as in Stat
	TGID      int  // "Tgid:": the task's process
	PPID      int  // "PPid:": the parent of its process
	TracerPID int  // "TracerPid:": its ptrace tracer, 0 if none
	// SigPnd is the task's own pending signals, ShdPnd its process's
	// (shared) ones: bit sig-1 for signal sig.
	SigPnd, ShdPnd uint64
}

// Pending reports whether sig is pending for the task, in its own set or
// its process's.
func (s Status) Pending(sig int) bool {
	if sig < 1 || sig > 64 {
		return false
	}
	return (s.SigPnd|s.ShdPnd)&(1<<(sig-1)) != 0
}

// ParseStatus parses the text of a /proc/PID/status file, "Name:\tvalue"
// lines. A field it reads whose value is not a number (hex for the
// signal sets) is an error that matches ErrFormat; the lines it does not
// read are skipped.
func ParseStatus(b []byte) (Status, error) {
	var s Status
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		name, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		var err error
		switch string(name) {
		case "State":
			if len(v) == 0 {
				return Status{}, formatError("status", "empty State", line)
			}
			s.State = v[0]
		case "Tgid":
			s.TGID, err = strconv.Atoi(string(v))
		case "PPid":
			s.PPID, err = strconv.Atoi(string(v))
		case "TracerPid":
			s.TracerPID, err = strconv.Atoi(string(v))
		case "SigPnd":
			s.SigPnd, err = strconv.ParseUint(string(v), 16, 64)
		case "ShdPnd":
			s.ShdPnd, err = strconv.ParseUint(string(v), 16, 64)
		}
		if err != nil {
			return Status{}, formatError("status", "bad "+string(name), line)
		}
	}
	return s, nil
}
