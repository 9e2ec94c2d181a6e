package sigstart

import (
	"fmt"
	"os/signal"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Set is a set of signals 1 to 64: bit n-1 stands for signal n, as in
// the SigIgn and SigBlk lines of /proc/PID/status.
type Set uint64

// Has reports whether sig is in s.
func (s Set) Has(sig unix.Signal) bool {
	return sig >= 1 && sig <= 64 && s&(1<<(sig-1)) != 0
}

// String gives s as /proc/PID/status does: 16 hex digits.
func (s Set) String() string { return fmt.Sprintf("%016x", uint64(s)) }

// Names lists the signals of s, e.g. "SIGPIPE SIGTERM".
func (s Set) Names() string {
	var names []string
	for sig := unix.Signal(1); sig <= 64; sig++ {
		if s.Has(sig) {
			if n := unix.SignalName(sig); n != "" {
				names = append(names, n)
			} else {
				names = append(names, "SIG"+strconv.Itoa(int(sig)))
			}
		}
	}
	return strings.Join(names, " ")
}

// ParseSet parses the form String gives.
func ParseSet(s string) (Set, error) {
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("sigstart: bad signal set %q", s)
	}
	return Set(v), nil
}

// Known reports whether the record could be taken (the binary was built
// with cgo). When it is false, Ignored and Blocked are empty.
func Known() bool { return known }

// Ignored returns the signals whose disposition was SIG_IGN when the
// process started.
func Ignored() Set { return ignored }

// Blocked returns the signal mask of the process's first thread when it
// started.
func Blocked() Set { return blocked }

// IgnoredAtStart reports whether the process was started with sig
// ignored: as Ignored records it, or as the Go runtime keeps it (SIGHUP
// and SIGINT stay ignored, and the runtime says so even without cgo).
func IgnoredAtStart(sig unix.Signal) bool {
	return ignored.Has(sig) || signal.Ignored(sig)
}
