package perfevent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/perfprof/perfprof/internal/procfs"
	"golang.org/x/sys/unix"
)

// readFormat is the read_format of every event: one read(2) on the leader
// returns the whole group, as struct read_format in perf_event_open(2):
//
//	struct read_format {
//		u64 nr;            /* PERF_FORMAT_GROUP */
//		u64 time_enabled;  /* PERF_FORMAT_TOTAL_TIME_ENABLED */
//		u64 time_running;  /* PERF_FORMAT_TOTAL_TIME_RUNNING */
//		struct { u64 value; u64 id; /* PERF_FORMAT_ID */ } values[nr];
//	};
const readFormat = unix.PERF_FORMAT_GROUP | unix.PERF_FORMAT_TOTAL_TIME_ENABLED |
	unix.PERF_FORMAT_TOTAL_TIME_RUNNING | unix.PERF_FORMAT_ID

// Header and per-event sizes of struct read_format, in bytes.
const (
	readHeaderSize = 3 * 8
	readValueSize  = 2 * 8
	// readValueLostSize is a value's size with PERF_FORMAT_LOST (sampling):
	// value, id, lost.
	readValueLostSize = 3 * 8
)

// bitsSetByOpen are the attr bits that OpenGroup, Probe and Pin own.
const bitsSetByOpen = unix.PerfBitDisabled | unix.PerfBitEnableOnExec | unix.PerfBitInherit

var (
	errNoSpecs     = errors.New("perfevent: no events to open")
	errGroupClosed = errors.New("read counter group: group is closed")
	errShortDst    = errors.New("read counter group: destination shorter than the group")
	// The kernel returns 0 bytes for an event in error state (a pinned
	// event that could not be scheduled): not a count of 0.
	errErrorState = fmt.Errorf("read counter group: event in error state: %w", io.EOF)
	errBadLayout  = errors.New("read counter group: unexpected read_format layout")
)

// perfEventOpen calls perf_event_open(2) with PERF_FLAG_FD_CLOEXEC, so
// that no counter fd leaks into a workload we exec. EINTR is retried: the
// open waits interruptibly on the target's exec_update_lock, and Go's
// preemption signals (SIGURG) make EINTR likely.
func perfEventOpen(attr *unix.PerfEventAttr, pid, cpu, groupFD int) (int, error) {
	for {
		fd, err := unix.PerfEventOpen(attr, pid, cpu, groupFD, unix.PERF_FLAG_FD_CLOEXEC)
		if err != unix.EINTR { // x/sys returns a bare unix.Errno
			return fd, openErrnoError(err)
		}
	}
}

// openErrnoError gives an error of perf_event_open(2) its meaning, keeping
// the errno matchable: errors.Is(err, ErrNotSupported) and
// errors.Is(err, unix.ENOENT) both hold.
func openErrnoError(err error) error {
	if err == nil {
		return nil
	}
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return err
	}
	var meaning error
	switch errno {
	case unix.ENOENT:
		// perf_init_event found no PMU accepting the type/config: a
		// generic hardware event in a VM without a virtual PMU, a cache
		// event the PMU does not map, an unknown tracepoint id.
		meaning = ErrNotSupported
	case unix.ENODEV:
		// The PMU exists but cannot do this (e.g. a CPU-bound uncore PMU
		// asked for a task event).
		meaning = ErrNotSupported
	case unix.EOPNOTSUPP:
		// The PMU lacks a feature the attr asks for (sampling without an
		// overflow interrupt, exclude bits it cannot honour, branch stack).
		meaning = ErrNotSupported
	case unix.EACCES, unix.EPERM:
		// perf_event_paranoid forbids it (>= 2: kernel counting for
		// unprivileged users; > 2 on Debian/Android: everything), or the
		// target belongs to another user and we lack CAP_PERFMON /
		// ptrace access; a seccomp profile may also say EPERM.
		meaning = ErrPermission
	case unix.ESRCH:
		// find_lively_task_by_vpid found no task, or its perf context is
		// already torn down (TASK_TOMBSTONE): the task exited.
		meaning = ErrNoTask
	case unix.EMFILE, unix.ENFILE:
		// The per-process (RLIMIT_NOFILE) or system-wide fd limit.
		meaning = ErrTooManyFiles
	case unix.EBUSY:
		// Another user holds the PMU exclusively (attr.exclusive or a
		// PMU with PERF_PMU_CAP_EXCLUSIVE such as Intel PT).
		meaning = ErrBusy
	default:
		// EINVAL, E2BIG (an attr the kernel does not understand), ...:
		// no better word than the errno itself.
		return os.NewSyscallError("perf_event_open", errno)
	}
	return &errnoMeaning{meaning: meaning, errno: errno}
}

// errnoMeaning is an errno with the meaning openErrnoError gives it: both
// match with errors.Is.
type errnoMeaning struct {
	meaning error
	errno   unix.Errno
}

// Error returns the meaning and the errno's own text in parentheses:
// "event not supported (no such file or directory)". An errno whose text
// starts with the meaning's words stands alone: "too many open files",
// "too many open files in system".
func (e *errnoMeaning) Error() string {
	m, s := e.meaning.Error(), e.errno.Error()
	if strings.HasPrefix(s, m) {
		return s
	}
	return m + " (" + s + ")"
}

func (e *errnoMeaning) Unwrap() []error { return []error{e.meaning, e.errno} }

// openFailed returns the *OpenError of a failed step of OpenGroup on task
// tid: op names the step ("perf_event_open" or "PERF_EVENT_IOC_ENABLE"),
// err is its error.
//
// A task that is exiting can make the kernel fail an open with an errno
// that says nothing of the task: on Linux 6.18, a member opened once the
// task has exited (or is in do_exit), against a leader opened before,
// gets ENODEV, which openErrnoError reads as "event not supported"; the
// leader itself gets ESRCH. So when err is not already ErrNoTask, and not
// the fd limit (which is ours, whatever the task does), the task's state
// is read from /proc on this failure path, and a task that is exiting or
// gone makes the error a *taskEndError: ErrNoTask, and still the errno.
func openFailed(event string, tid int, op string, err error) *OpenError {
	var errno unix.Errno
	if tid > 0 && errors.As(err, &errno) && errno != unix.ESRCH && errno != unix.EMFILE && errno != unix.ENFILE {
		if why := taskEnd(tid); why != "" {
			err = &taskEndError{why: why, op: op, errno: errno}
		}
	}
	return &OpenError{Event: event, TID: tid, Err: err}
}

// taskEndError is the error of an open that failed on a task that is
// exiting or gone, whatever the errno: it matches ErrNoTask and the errno.
type taskEndError struct {
	why   string // "the task is exiting", "the task has exited"
	op    string // the failed call
	errno unix.Errno
}

// Error returns e.g.
// "no such task (the task is exiting; perf_event_open: no such device)".
func (e *taskEndError) Error() string {
	return ErrNoTask.Error() + " (" + e.why + "; " + e.op + ": " + e.errno.Error() + ")"
}

func (e *taskEndError) Unwrap() []error { return []error{ErrNoTask, e.errno} }

// pfExiting is PF_EXITING of include/linux/sched.h, set in a task's flags
// (field 9 of /proc/TID/stat) when it enters do_exit.
const pfExiting = 0x4

// taskEnd tells from /proc/TID/stat whether task tid is exiting or gone:
// "the task has exited" if the file is missing (reaped) or the state is Z
// or X, "the task is exiting" if PF_EXITING is set, "" if it is neither or
// this cannot be told.
func taskEnd(tid int) string {
	st, err := procfs.ReadStat(tid)
	switch {
	case err != nil:
		// Gone, unless there is no /proc to look in.
		if (errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH)) && procMounted() {
			return "the task has exited"
		}
		return ""
	case st.Zombie():
		return "the task has exited"
	case st.Flags&pfExiting != 0:
		return "the task is exiting"
	}
	return ""
}

func procMounted() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}

// Group is one counter group on one task: the leader is the first spec,
// the members the rest, read atomically with one read(2). A Group holds
// one fd per event.
//
// Read, Enable and Disable may be called concurrently with each other, but
// not with Close.
type Group struct {
	fds    []int // leader first, in spec order
	mu     sync.Mutex
	buf    []byte // read buffer, guarded by mu
	closed bool   // guarded by mu

	// Backing arrays for small groups, so that OpenGroup allocates once.
	smallFDs [smallGroup]int
	smallBuf [readHeaderSize + readValueLostSize*smallGroup]byte
	stride   int // readValueSize, or readValueLostSize with PERF_FORMAT_LOST
}

// smallGroup is the largest group whose fds and read buffer live inside
// the Group itself.
const smallGroup = 4

// OpenOptions tunes OpenGroup.
type OpenOptions struct {
	// EnableOnExec opens the group disabled with enable_on_exec set on
	// the leader: counting starts at the task's next execve (and restarts
	// at every execve). Otherwise the group counts from the moment it is
	// opened.
	EnableOnExec bool
}

// OpenGroup opens specs as one counter group on thread tid: specs[0] is
// the leader. Each event is opened with pid = tid and cpu = -1, so it
// counts tid on whatever CPU it runs; tid 0 means the calling thread.
// Counters are never inherited by the task's children (inherit = 0): a
// new child gets its own group. Every fd is close-on-exec.
//
// A group of two or more is opened with its leader disabled and enabled
// once the members are in (the quiet install below): that is cheaper, and it
// makes every event count from the same moment even on a task that is
// running meanwhile. (Opened enabled one by one on a running task, Linux
// 6.18 starts a member whose PMU differs from the leader's, such as
// page-faults under task-clock, only at the task's next context switch.)
// perfprof opens groups on tasks held in a ptrace stop, so that they count
// from the task's next instruction.
//
// OpenGroup makes one perf_event_open(2) call per event, plus one ioctl(2)
// for a group of two or more, and reads no file.
// It blocks only as long as the kernel does (the open waits on the
// target's exec_update_lock; EINTR is retried).
//
// On failure it closes whatever it opened and returns an *OpenError that
// wraps ErrNotSupported, ErrPermission, ErrNoTask, ErrTooManyFiles or
// ErrBusy, and the errno. An empty specs is an error. A failure on a task
// that is exiting or gone is ErrNoTask whatever the errno (the kernel may
// say ENODEV, "event not supported", for a member whose task is exiting):
// only then does OpenGroup read a file, the task's /proc/TID/stat.
func OpenGroup(specs []Spec, tid int, opt OpenOptions) (*Group, error) {
	if len(specs) == 0 {
		return nil, errNoSpecs
	}
	g := &Group{stride: readValueSize}
	lost := specs[0].Attr.Read_format & unix.PERF_FORMAT_LOST
	if lost != 0 {
		g.stride = readValueLostSize
	}
	if n := len(specs); n <= smallGroup {
		g.fds = g.smallFDs[:0:n]
		g.buf = g.smallBuf[:readHeaderSize+g.stride*n]
	} else {
		g.fds = make([]int, 0, n)
		g.buf = make([]byte, readHeaderSize+g.stride*n)
	}
	// The quiet install. Installing an event in another task's context
	// runs a function on the task's CPU (perf_install_in_context,
	// task_function_call): an IPI when that CPU is not ours, which in a VM
	// is a VM exit costing several µs. The kernel skips it for an event
	// that is off (its own state or its leader's) when the context already
	// has events. So a group of n opened enabled costs n IPIs, while a
	// group whose leader is opened disabled costs 2: the leader's install
	// (the context's first event; none if the task was born with a context,
	// see Seed) and the one PERF_EVENT_IOC_ENABLE. For two events that is
	// the same number plus a syscall, paid for the enable's other effect:
	// it schedules the whole group in at once on a running task, where
	// members installed one by one would wait for its next context switch.
	//
	// Measured on a 2-CPU VM, a group of task-clock, page-faults and
	// context-switches opened on a ptrace-stopped task on the other CPU
	// took 31.5 µs enabled and 24.5 µs this way; on the same CPU 7.5 µs and
	// 8.8 µs.
	quiet := len(specs) > 1 && !opt.EnableOnExec
	for i := range specs {
		attr := specs[i].Attr
		attr.Size = attrSize
		attr.Read_format = readFormat | lost
		attr.Bits &^= bitsSetByOpen
		groupFD := -1
		if i == 0 {
			switch {
			case opt.EnableOnExec:
				attr.Bits |= unix.PerfBitDisabled | unix.PerfBitEnableOnExec
			case quiet:
				attr.Bits |= unix.PerfBitDisabled
			}
		} else {
			// Members stay enabled: they count whenever the leader does.
			groupFD = g.fds[0]
		}
		fd, err := perfEventOpen(&attr, tid, -1, groupFD)
		if err != nil {
			g.closeFDs()
			return nil, openFailed(specs[i].Name, tid, "perf_event_open", err)
		}
		g.fds = append(g.fds, fd)
	}
	if quiet {
		// The members are enabled: enabling them again costs no IPI.
		if err := g.Enable(); err != nil {
			g.closeFDs()
			return nil, openFailed(specs[0].Name, tid, "PERF_EVENT_IOC_ENABLE", err)
		}
	}
	return g, nil
}

// Redirect makes the members of a sampling group write their records into
// the leader's ring (PERF_EVENT_IOC_SET_OUTPUT): one ring per task. The
// leader's ring must be mapped first.
func (g *Group) Redirect() error {
	for _, fd := range g.fds[1:] {
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_OUTPUT, g.fds[0]); err != nil {
			return fmt.Errorf("redirect a member's records to the leader's ring: %w", os.NewSyscallError("ioctl", err))
		}
	}
	return nil
}

// Len returns the number of events in the group.
func (g *Group) Len() int { return len(g.fds) }

// FDs returns the group's fds, leader first, for tests and fd accounting.
// The caller must not close them.
func (g *Group) FDs() []int { return g.fds }

// Read reads all counters of the group with one read(2) on the leader into
// dst, in spec order. len(dst) must be at least Len(). Read does not
// allocate, and does not block: a counter fd is always readable. It still
// works after the task exited and was reaped (it returns the final counts).
//
// A counter in error state (the kernel returns 0 bytes) is an error that
// matches io.EOF.
func (g *Group) Read(dst []Value) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return errGroupClosed
	}
	nr := len(g.fds)
	if len(dst) < nr {
		return errShortDst
	}
	var n int
	var err error
	for {
		n, err = unix.Read(g.fds[0], g.buf)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("read counter group: %w", os.NewSyscallError("read", err))
	}
	if n == 0 {
		return errErrorState
	}
	buf := g.buf
	if n != len(buf) || binary.NativeEndian.Uint64(buf) != uint64(nr) {
		return errBadLayout
	}
	enabled := binary.NativeEndian.Uint64(buf[8:])
	running := binary.NativeEndian.Uint64(buf[16:])
	// The kernel writes the leader, then the members in the order they
	// joined the group (perf_read_group, for_each_sibling_event), which
	// is spec order.
	for i := range nr {
		off := readHeaderSize + g.stride*i
		dst[i] = Value{
			Raw:     binary.NativeEndian.Uint64(buf[off:]),
			Enabled: enabled,
			Running: running,
		}
		if g.stride == readValueLostSize {
			dst[i].Lost = binary.NativeEndian.Uint64(buf[off+16:])
		}
	}
	return nil
}

// Enable starts the whole group counting (PERF_EVENT_IOC_ENABLE with
// PERF_IOC_FLAG_GROUP on the leader).
func (g *Group) Enable() error {
	return g.ioctl(unix.PERF_EVENT_IOC_ENABLE, "enable")
}

// Disable stops the whole group counting (PERF_EVENT_IOC_DISABLE with
// PERF_IOC_FLAG_GROUP on the leader). Counts and times are kept.
func (g *Group) Disable() error {
	return g.ioctl(unix.PERF_EVENT_IOC_DISABLE, "disable")
}

func (g *Group) ioctl(req uint, what string) error {
	if err := unix.IoctlSetInt(g.fds[0], req, unix.PERF_IOC_FLAG_GROUP); err != nil {
		return fmt.Errorf("%s counter group: %w", what, os.NewSyscallError("ioctl", err))
	}
	return nil
}

// Close closes every fd of the group, members first. It is idempotent:
// later calls return nil. It must not run concurrently with Read, Enable or
// Disable.
func (g *Group) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	return g.closeFDs()
}

// closeFDs closes the fds opened so far, last first, and returns the first
// error.
func (g *Group) closeFDs() error {
	var first error
	for i := len(g.fds) - 1; i >= 0; i-- {
		if err := unix.Close(g.fds[i]); err != nil && first == nil {
			first = os.NewSyscallError("close", err)
		}
	}
	return first
}

// perfEventParanoid reads /proc/sys/kernel/perf_event_paranoid.
func perfEventParanoid() (int, bool) {
	return readIntFile("/proc/sys/kernel/perf_event_paranoid")
}
