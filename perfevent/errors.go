package perfevent

import (
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// Errors that OpenGroup, Probe and Pin wrap in an *OpenError, next to the
// raw errno: both match with errors.Is. The errno-to-sentinel mapping,
// with the kernel behaviour behind each case, is openErrnoError.
var (
	// ErrNotSupported: the kernel has no PMU for the event, or the PMU
	// does not implement it (ENOENT, ENODEV, EOPNOTSUPP).
	ErrNotSupported = errors.New("event not supported")
	// ErrPermission: perf_event_paranoid or a missing CAP_PERFMON forbids
	// the event (EACCES, EPERM). It matches fs.ErrPermission too.
	ErrPermission error = &wrapError{msg: "event not permitted", err: fs.ErrPermission}
	// ErrNoTask: the task does not exist or is exiting (ESRCH, or any
	// errno but EMFILE and ENFILE from OpenGroup on a task that /proc
	// shows exiting or exited).
	ErrNoTask = errors.New("no such task")
	// ErrTooManyFiles: the process or system fd limit is reached (EMFILE,
	// ENFILE).
	ErrTooManyFiles = errors.New("too many open files")
	// ErrBusy: the PMU is held exclusively by someone else (EBUSY).
	ErrBusy = errors.New("PMU busy")
)

// wrapError is a sentinel that also matches a standard error.
type wrapError struct {
	msg string
	err error
}

func (e *wrapError) Error() string { return e.msg }
func (e *wrapError) Unwrap() error { return e.err }

// OpenError is returned when opening an event fails. Err wraps a sentinel
// of this package (when the errno has a meaning) and the raw unix.Errno,
// so both errors.Is(err, ErrNotSupported) and errors.Is(err, unix.ENOENT)
// hold.
type OpenError struct {
	Event string // Spec.Name
	TID   int    // the task it was opened on (the caller's tid for Probe and Pin)
	Err   error
}

// Error returns e.g.
// `open "cycles" for tid 4242: event not supported (no such file or directory)`
// or `open "page-faults" for tid 4242: no such task (the task is exiting;
// perf_event_open: no such device)`.
func (e *OpenError) Error() string {
	return fmt.Sprintf("open %q for tid %d: %v", e.Event, e.TID, e.Err)
}

func (e *OpenError) Unwrap() error { return e.Err }

// Hardware reports whether the event that failed needs a hardware PMU
// (cycles, a cache event, a raw event): its ErrNotSupported then means
// that this machine has none.
func (e *OpenError) Hardware() bool { return isHardwareName(e.Event) }

// ErrnoError returns what an errno from perf_event_open means: a sentinel
// of this package wrapped next to the errno (both match errors.Is), or the
// errno alone.
func ErrnoError(errno unix.Errno) error { return openErrnoError(errno) }

// Paranoid returns kernel.perf_event_paranoid; ok is false if it cannot
// be read.
func Paranoid() (level int, ok bool) { return perfEventParanoid() }
