package profdev

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/perfprof/perfprof/perfevent"
	"golang.org/x/sys/unix"
)

// Set is the devices of one run, all counting the same events.
type Set struct {
	specs []perfevent.Spec

	mu    sync.Mutex
	devs  []*Dev         // every device opened, in order, alive or final
	procs map[int]uint64 // process id (TGID) -> its current Proc, see Dev.Proc
	nproc uint64

	opened   atomic.Int64
	failures atomic.Int64
	firstErr atomic.Pointer[error]

	seeding bool  // see FollowChildren
	seeds   []int // perfevent.Seed fds, guarded by mu
}

// NewSet returns an empty set counting specs.
func NewSet(specs []perfevent.Spec) *Set {
	return &Set{specs: specs}
}

// FollowChildren says that the children of the tasks Open is given will
// get devices of their own (Dev.Clone). Open then also seeds each process
// leader it is given (perfevent.Seed) when the set counts two events or
// more, which makes the groups of the tasks it creates cheaper to open.
// Call it before the first Open.
func (s *Set) FollowChildren() {
	s.seeding = len(s.specs) > 1
}

// Specs returns the events the set counts.
func (s *Set) Specs() []perfevent.Spec { return s.specs }

// Dev is one counter group on one task.
type Dev struct {
	set  *Set
	TGID int
	PPID int
	// Proc tells processes apart when the kernel reuses a process id
	// during a run: every new process gets a new Proc, and its threads
	// share it. ParentProc is the Proc of the process that created it (0
	// if that one is not followed).
	Proc, ParentProc uint64

	refs int32 // tracer goroutine only

	mu       sync.Mutex
	tid      int
	group    *perfevent.Group // nil once closed
	final    []perfevent.Value
	comm     string
	exited   bool
	status   unix.WaitStatus
	hasState bool
}

// Open opens a Dev on task tid. With enableOnExec the counters start at
// the task's next execve (a workload held before its exec); otherwise
// they count at once.
func (s *Set) Open(tid, tgid, ppid int, comm string, enableOnExec bool) (*Dev, error) {
	d, err := s.open(tid, tgid, ppid, comm, enableOnExec, nil)
	if err == nil && s.seeding && tid == tgid {
		// Only an optimisation: a task that cannot be seeded is counted
		// all the same. Only process leaders are seeded, so that the fds
		// do not grow with the threads of an attached process; the
		// tasks a seeded task creates carry the seed on by themselves.
		if fd, err := perfevent.Seed(tid); err == nil {
			s.mu.Lock()
			s.seeds = append(s.seeds, fd)
			s.mu.Unlock()
		}
	}
	return d, err
}

// OpenNew opens a Dev on a task created by a task that has none (its open
// failed): a new process if tid == tgid, else a thread of tgid.
func (s *Set) OpenNew(tid, tgid, ppid int) (*Dev, error) {
	s.mu.Lock()
	parent := &Dev{TGID: -1, Proc: s.procs[ppid]} // stands for the unknown creator
	if tid != tgid {
		parent.TGID, parent.Proc = tgid, s.procs[tgid]
	}
	s.mu.Unlock()
	return s.open(tid, tgid, ppid, "", false, parent)
}

// open opens a Dev; parent is the device of the creating task, nil for a
// task that was attached or launched.
func (s *Set) open(tid, tgid, ppid int, comm string, enableOnExec bool, parent *Dev) (*Dev, error) {
	g, err := perfevent.OpenGroup(s.specs, tid, perfevent.OpenOptions{EnableOnExec: enableOnExec})
	if err != nil {
		// A task that is gone (killed while held, or exited before it
		// could be armed) is no failure to count.
		if !errors.Is(err, perfevent.ErrNoTask) {
			s.fail(err)
		}
		return nil, err
	}
	d := &Dev{set: s, tid: tid, TGID: tgid, PPID: ppid, group: g, comm: comm}
	s.opened.Add(1)
	s.mu.Lock()
	if s.procs == nil {
		s.procs = make(map[int]uint64)
	}
	switch {
	case parent != nil && parent.TGID == tgid && parent.Proc != 0:
		// A new thread of the parent's process.
		d.Proc, d.ParentProc = parent.Proc, parent.ParentProc
	case parent != nil:
		// A new process: its id may be an old one's, reused.
		s.nproc++
		d.Proc, d.ParentProc = s.nproc, parent.Proc
		s.procs[tgid] = d.Proc
	default:
		// Attached or launched: threads of one process share a Proc.
		if d.Proc = s.procs[tgid]; d.Proc == 0 {
			s.nproc++
			d.Proc = s.nproc
			s.procs[tgid] = d.Proc
		}
		d.ParentProc = s.procs[ppid]
	}
	s.devs = append(s.devs, d)
	s.mu.Unlock()
	return d, nil
}

// Clone opens the same events on a new task tid, which inherits d's
// command name. It is called while tid is held in its first stop, so the
// counters see its first instruction.
func (d *Dev) Clone(tid, tgid, ppid int) (*Dev, error) {
	d.mu.Lock()
	comm := d.comm
	d.mu.Unlock()
	return d.set.open(tid, tgid, ppid, comm, false, d)
}

func (s *Set) fail(err error) {
	s.failures.Add(1)
	s.firstErr.CompareAndSwap(nil, &err)
}

// Failures returns how many devices could not be opened, and the first
// error.
func (s *Set) Failures() (int, error) {
	n := int(s.failures.Load())
	if p := s.firstErr.Load(); p != nil {
		return n, *p
	}
	return n, nil
}

// Opened returns how many devices were opened.
func (s *Set) Opened() int { return int(s.opened.Load()) }

// Live returns how many devices are still open.
func (s *Set) Live() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.devs {
		d.mu.Lock()
		if d.group != nil {
			n++
		}
		d.mu.Unlock()
	}
	return n
}

// Use takes a reference on d; it fails once d is closed.
func (d *Dev) Use() bool {
	if d.refs < 0 {
		return false
	}
	d.refs++
	return true
}

// Unuse drops a reference. The last one reads the final counts and closes
// the counters: the task is gone or no longer followed.
func (d *Dev) Unuse() {
	if d.refs <= 0 {
		return
	}
	d.refs--
	if d.refs == 0 {
		d.refs = -1
		d.Close()
	}
}

// Close reads the final counts and closes the counters. It is idempotent.
func (d *Dev) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.group == nil {
		return
	}
	vals := make([]perfevent.Value, d.group.Len())
	if err := d.group.Read(vals); err == nil {
		d.final = vals
	}
	d.group.Close()
	d.group = nil
}

// FD returns the leader's file descriptor, -1 once closed. poll(2) on it
// reports POLLHUP when the task has exited.
func (d *Dev) FD() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.group == nil {
		return -1
	}
	return d.group.FDs()[0]
}

// SetExit records how the task ended.
func (d *Dev) SetExit(ws unix.WaitStatus) {
	d.mu.Lock()
	d.exited, d.status, d.hasState = true, ws, true
	d.mu.Unlock()
}

// SetComm records the task's command name.
func (d *Dev) SetComm(comm string) {
	d.mu.Lock()
	d.comm = comm
	d.mu.Unlock()
}

// Rename records an exec: the task is now tid (a non-leader thread that
// exec'd takes its leader's TID) and runs comm.
func (d *Dev) Rename(tid int, comm string) {
	d.mu.Lock()
	d.tid, d.comm = tid, comm
	d.mu.Unlock()
}

// Counts is one device's reading.
type Counts struct {
	TID, TGID, PPID  int
	Proc, ParentProc uint64 // see Dev.Proc
	Comm             string
	// Exited is true once the task was reaped; Status is then valid.
	Exited bool
	Status unix.WaitStatus
	// Closed is true when the counters are final (task gone or detached).
	Closed bool
	// Valid is false when the counters could not be read.
	Valid  bool
	Values []perfevent.Value
}

// Read reads every device of the set into dst (reusing its storage) and
// returns it. Live devices are read now; closed ones give their final
// counts.
func (s *Set) Read(dst []Counts) []Counts {
	s.mu.Lock()
	devs := s.devs[:len(s.devs):len(s.devs)]
	s.mu.Unlock()
	n := len(s.specs)
	if cap(dst) < len(devs) {
		dst = append(dst[:cap(dst)], make([]Counts, len(devs)-cap(dst))...)
	}
	dst = dst[:len(devs)]
	for i, d := range devs {
		c := &dst[i]
		if cap(c.Values) < n {
			c.Values = make([]perfevent.Value, n)
		}
		c.Values = c.Values[:n]
		d.read(c)
	}
	return dst
}

func (d *Dev) read(c *Counts) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c.TID, c.TGID, c.PPID, c.Comm = d.tid, d.TGID, d.PPID, d.comm
	c.Proc, c.ParentProc = d.Proc, d.ParentProc
	c.Exited, c.Status = d.exited, d.status
	c.Closed = d.group == nil
	c.Valid = true
	if d.group != nil {
		if err := d.group.Read(c.Values); err != nil {
			c.Valid = false
		}
		return
	}
	if d.final == nil {
		c.Valid = false
		clear(c.Values)
		return
	}
	copy(c.Values, d.final)
}

// Close closes every device still open (reading their final counts), and
// the seeds.
func (s *Set) Close() {
	s.mu.Lock()
	devs, seeds := s.devs, s.seeds
	s.seeds = nil
	s.mu.Unlock()
	for _, d := range devs {
		d.Close()
	}
	for _, fd := range seeds {
		unix.Close(fd)
	}
}
