package inherit

import "golang.org/x/sys/unix"

// monotonicNow is CLOCK_MONOTONIC now, the records' clock, in ns.
func monotonicNow() uint64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}
