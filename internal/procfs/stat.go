package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// ErrFormat is matched by the errors of a text the parsers do not
// understand.
var ErrFormat = errors.New("procfs: unexpected format")

// Stat holds the fields of /proc/PID/stat (proc_pid_stat(5)) that perfprof
// reads, the first nine of the line
//
//	PID (COMM) STATE PPID PGRP SESSION TTY_NR TPGID FLAGS ...
type Stat struct {
	PID  int
	Comm string // as the kernel gives it: at most 15 bytes, any of them
	// State is a letter: R, S, D, T (stopped), t (tracing stop), Z
	// (zombie), X (dead), I (idle kernel thread)...
	State   byte
	PPID    int // the parent process (its TGID)
	PGRP    int
	Session int
	// Flags are the task's PF_* flags (include/linux/sched.h), such as
	// PF_EXITING (0x4), set when it entered do_exit.
	Flags uint64
}

// Zombie reports whether the task has exited and waits to be reaped (Z),
// or is being reaped (X).
func (s Stat) Zombie() bool { return s.State == 'Z' || s.State == 'X' }

// statFields is how many fields ParseStat needs after the comm: STATE to
// FLAGS.
const statFields = 7

// ParseStat parses a /proc/PID/stat line. The comm may hold spaces and
// parentheses (a program may name itself "a) (b"): it runs from the first
// '(' to the last ')', and the other fields are counted from there. A
// line that ends before FLAGS, or whose fields are not numbers where
// numbers are due, is an error that matches ErrFormat.
func ParseStat(b []byte) (Stat, error) {
	var s Stat
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return Stat{}, formatError("stat", "no (comm)", b)
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return Stat{}, formatError("stat", "bad pid", b)
	}
	s.PID, s.Comm = pid, string(b[open+1:end])
	rest := b[end+1:]
	for i := range statFields {
		var f []byte
		if f, rest = nextField(rest); f == nil {
			return Stat{}, formatError("stat", "too few fields", b)
		}
		switch i {
		case 0:
			if len(f) != 1 || !('A' <= f[0] && f[0] <= 'Z' || 'a' <= f[0] && f[0] <= 'z') {
				return Stat{}, formatError("stat", "bad state", b)
			}
			s.State = f[0]
		case 1, 2, 3:
			n, err := strconv.Atoi(string(f))
			if err != nil {
				return Stat{}, formatError("stat", "bad number", b)
			}
			switch i {
			case 1:
				s.PPID = n
			case 2:
				s.PGRP = n
			case 3:
				s.Session = n
			}
		case 6:
			if s.Flags, err = strconv.ParseUint(string(f), 10, 64); err != nil {
				return Stat{}, formatError("stat", "bad flags", b)
			}
		}
	}
	return s, nil
}

// nextField returns the first field of b (separated by spaces, tabs or
// newlines) and what follows it; nil when b has no field left.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i == len(b) {
		return nil, nil
	}
	j := i
	for j < len(b) && !isSpace(b[j]) {
		j++
	}
	return b[i:j], b[j:]
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

// formatError is an error of file's parser: what is wrong, and the text.
func formatError(file, what string, b []byte) error {
	const max = 120
	if len(b) > max {
		b = b[:max]
	}
	return &parseError{fmt.Sprintf("%s: %s in %q", file, what, b)}
}

// parseError is a parser's error: it says what was wrong, and matches
// ErrFormat.
type parseError struct{ msg string }

func (e *parseError) Error() string { return e.msg }
func (e *parseError) Unwrap() error { return ErrFormat }
