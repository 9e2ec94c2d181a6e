package session

import (
	"errors"
	"fmt"
	"time"

	"github.com/perfprof/perfprof/follow"
	"github.com/perfprof/perfprof/perfevent"
	"golang.org/x/sys/unix"
)

// Reporter is told what a run has to say; cmd/perfprof words it (a
// message, a hint, the exit status). Its methods may be called from any
// goroutine: the main one, the ring owner's (LostRecords), the cgroup
// watch's, the metrics server's.
type Reporter interface {
	// Error says that something failed. err wraps its cause: an
	// *follow.AttachError, a *perfevent.OpenError, a *daemon.BusyError,
	// a perfevent parse error, or one of this package's error types.
	Error(err error)
	// Warn says what the user should know while the run goes on: one of
	// this package's warning types, or an error.
	Warn(w error)
}

// Result is how a run ended.
type Result struct {
	// Err is the failure that ended the run before it followed anything
	// (it was reported); nil if the run ran.
	Err error
	// Failed says that a failure was reported that makes the run a
	// failure all the same (a profile or the report could not be
	// written).
	Failed bool
	// Workload is the launched command's wait status, if HaveWorkload.
	Workload     unix.WaitStatus
	HaveWorkload bool
}

// ErrNoTarget: none of several targets could be attached (each said why).
var ErrNoTarget = errors.New("no target could be attached")

// errReported ends a run whose failure was reported already.
var errReported = errors.New("session: failed (reported)")

// Substituted: an event is counted in place of another (perfevent.Resolve).
type Substituted struct{ perfevent.Substitution }

func (w *Substituted) Error() string {
	return fmt.Sprintf("counting %q instead of %q", w.To.Name, w.From.Name)
}

// PartialAttach: only some of the targets could be attached.
type PartialAttach struct{ Attached, Of int }

func (w *PartialAttach) Error() string {
	return fmt.Sprintf("following %d of %d targets", w.Attached, w.Of)
}

// Skipped: a process below a target (--tree) could not be attached.
type Skipped struct {
	Target int
	Err    *follow.AttachError
}

func (w *Skipped) Error() string {
	return fmt.Sprintf("not following process %d (below %d) or its children: %v", w.Err.PID, w.Target, w.Err)
}

// CgroupError: something of --cgroup's watch failed: a
// *cgroup.InotifyError, a *cgroup.ProcessError, or reading the cgroup.
type CgroupError struct {
	Dir string
	Err error
}

func (e *CgroupError) Error() string { return fmt.Sprintf("cgroup %s: %v", e.Dir, e.Err) }
func (e *CgroupError) Unwrap() error { return e.Err }

// ProfileDirError: --pprof-dir could not be opened (Open), or an
// interval's profile could not be written there.
type ProfileDirError struct {
	Open bool
	Err  error
}

func (e *ProfileDirError) Error() string { return fmt.Sprintf("profile directory: %v", e.Err) }
func (e *ProfileDirError) Unwrap() error { return e.Err }

// KillAfter: the workload was still running After its first stop signal:
// its tasks are killed.
type KillAfter struct {
	After  time.Duration
	Signal unix.Signal
}

func (w *KillAfter) Error() string {
	return fmt.Sprintf("the workload was still running %v after %v: killing it", w.After, unix.SignalName(w.Signal))
}

// LostRecords: the kernel dropped records, Total so far: rings were full.
type LostRecords struct{ Total int64 }

func (w *LostRecords) Error() string { return fmt.Sprintf("%d records lost so far", w.Total) }

// CountsLost: with --follow inherit, the kernel dropped Records records
// (its per-CPU rings were full), Stalls counting rings stalled and were
// replaced, and Tasks tasks ended with their final counts lost: their
// counts are unknown.
type CountsLost struct {
	Records, Stalls int64
	Tasks           int
}

func (w *CountsLost) Error() string {
	return fmt.Sprintf("%d records lost, %d counting rings stalled, the counts of %d tasks lost", w.Records, w.Stalls, w.Tasks)
}

// OutOfOrder: with --order, samples were written out of time order: Late
// came after their turn, Early were written before their time (the held
// samples reached their limit).
type OutOfOrder struct{ Late, Early int64 }

func (w *OutOfOrder) Error() string {
	return fmt.Sprintf("%d samples written out of time order", w.Late)
}

// WithoutDevices: Tasks tasks were followed without counters (Rings
// false) or without a ring (Rings: counted, not sampled); Err says why the
// first had none.
type WithoutDevices struct {
	Tasks int
	Rings bool
	Err   error
}

func (w *WithoutDevices) Error() string {
	return fmt.Sprintf("%d tasks followed without their devices: %v", w.Tasks, w.Err)
}
func (w *WithoutDevices) Unwrap() error { return w.Err }
