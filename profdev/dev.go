package profdev

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/runstats"
	"golang.org/x/sys/unix"
)

// Set is the observation of one run: one Dev for every task followed
// now, all counting the same events. It keeps live devices only; each one
// that ends becomes a Final handed to the sink.
type Set struct {
	specs []perfevent.Spec
	sink  Sink

	// CommOf names a task whose creator has no device to take its name
	// from (follow.Comm); nil leaves it unnamed until its exec. Set it
	// before the first Fork.
	CommOf func(tid int) string

	mu   sync.Mutex
	live map[*Dev]struct{}
	next atomic.Uint64 // the last Dev.id given

	opened   atomic.Int64
	failures atomic.Int64
	firstErr atomic.Pointer[error]

	seeding bool  // see FollowChildren
	seeds   []int // perfevent.Seed fds, guarded by mu

	sampling *sampling // nil when counting only
}

// Sink learns of the start and the end of every device of a Set (the
// report model). Started runs on the goroutine that opens the device
// (Arm's or Fork's caller: the tracer, on its stop path); Ended on the
// goroutine that ends it: the ring owner in a sampling set, else the one
// that releases it (the tracer in Unuse, or Close's caller). Both must be
// quick, and safe for concurrent use; the set's lock is never held while
// they run. A device is Started before Read can see it, and Ended after
// Read stops seeing it.
type Sink interface {
	Started(id uint64, t pidtree.Task, comm string)
	Ended(f Final)
}

// NewSet returns an empty set counting specs, which tells sink (if not
// nil) of each device's start and end.
func NewSet(specs []perfevent.Spec, sink Sink) *Set {
	return &Set{specs: specs, sink: sink, live: map[*Dev]struct{}{}}
}

// FollowChildren says that the children of the tasks Arm is given will
// get devices of their own (Fork). Arm then also seeds each process
// leader it is given (perfevent.Seed) when the set counts two events or
// more, which makes the groups of the tasks it creates cheaper to open.
// Call it before the first Arm.
func (s *Set) FollowChildren() {
	s.seeding = len(s.specs) > 1
}

// Specs returns the events the set counts.
func (s *Set) Specs() []perfevent.Spec { return s.specs }

// Dev is the observation of one task: its counter group, from the moment
// the task is armed or born to the moment it ends or is let go.
type Dev struct {
	set  *Set
	id   uint64
	refs int32 // tracer goroutine only

	mu     sync.Mutex
	task   pidtree.Task
	comm   string
	group  *perfevent.Group // nil once closed
	exited bool
	status unix.WaitStatus

	ring     *ownedRing // when sampling and it has one; the ring owner's once added
	ids      []uint64   // the kernel's ids of the group's events, in spec order
	retiring bool       // handed to the ring owner to end (Close)
	lostSeen uint64     // records lost as PERF_RECORD_LOST said (ring owner only)
}

// Arm opens a Dev on a task the tracer took over (attached, or launched
// and held before its exec). With enableOnExec the counters start at the
// task's next execve; otherwise they count at once.
func (s *Set) Arm(t pidtree.Task, comm string, enableOnExec bool) (*Dev, error) {
	d, err := s.open(t, comm, enableOnExec, true)
	if err == nil && s.seeding && !t.Thread() {
		// Only an optimisation: a task that cannot be seeded is counted
		// all the same. Only process leaders are seeded, so that the fds
		// do not grow with the threads of an attached process; the
		// tasks a seeded task creates carry the seed on by themselves.
		if fd, err := perfevent.Seed(t.TID); err == nil {
			s.mu.Lock()
			s.seeds = append(s.seeds, fd)
			s.mu.Unlock()
		}
	}
	return d, err
}

// Fork gives task t, created by a followed task and held in its first
// stop, the same observation as its creator: a clone of each of the
// creator's devices of this set, or, if the creator has none (its open
// failed), a new one, so that one failure does not cost a whole subtree
// its counts. The counters see the task's first instruction.
func (s *Set) Fork(t pidtree.Task, parent []pidtree.Device) ([]pidtree.Device, error) {
	comm, found := "", false
	for _, p := range parent {
		if d, ok := p.(*Dev); ok && d.set == s {
			d.mu.Lock()
			comm, found = d.comm, true
			d.mu.Unlock()
			break
		}
	}
	if !found && s.CommOf != nil {
		comm = s.CommOf(t.TID)
	}
	d, err := s.open(t, comm, false, false)
	if err != nil {
		return nil, err
	}
	return []pidtree.Device{d}, nil
}

// Exec records that task t completed an execve and now runs comm. After
// an exec from a non-leader thread, that thread has the leader's TID.
func (s *Set) Exec(t pidtree.Task, comm string, devs []pidtree.Device) {
	for _, p := range devs {
		if d, ok := p.(*Dev); ok && d.set == s {
			d.mu.Lock()
			d.task, d.comm = t, comm
			d.mu.Unlock()
		}
	}
}

// Exit records how a task ended, before its devices are released.
func (s *Set) Exit(ws unix.WaitStatus, devs []pidtree.Device) {
	for _, p := range devs {
		if d, ok := p.(*Dev); ok && d.set == s {
			d.mu.Lock()
			d.exited, d.status = true, ws
			d.mu.Unlock()
		}
	}
}

// open opens a Dev on t and makes it live.
//
// A task that cannot get a ring is followed and counted all the same, the
// failure counted, unless strict and no ring has been mapped yet: then the
// open fails.
func (s *Set) open(t pidtree.Task, comm string, enableOnExec, strict bool) (*Dev, error) {
	g, err := perfevent.OpenGroup(s.specs, t.TID, perfevent.OpenOptions{EnableOnExec: enableOnExec})
	if err != nil {
		// A task that is gone (killed while held, or exited before it
		// could be armed) is no failure to count.
		if !errors.Is(err, perfevent.ErrNoTask) {
			s.fail(err)
		}
		return nil, err
	}
	d := &Dev{set: s, task: t, group: g, comm: comm}
	if sm := s.sampling; sm != nil {
		if err := s.mapRing(d); err != nil {
			if strict && sm.mapped.Load() == 0 {
				// Not one ring could be mapped: the run would sample
				// nothing. Better said now than in the summary.
				g.Close()
				return nil, err
			}
			sm.ringFailures.Add(1)
			sm.firstRingErr.CompareAndSwap(nil, &err)
		}
	}
	s.opened.Add(1)
	d.id = s.next.Add(1)
	if s.sink != nil {
		s.sink.Started(d.id, t, comm)
	}
	s.mu.Lock()
	s.live[d] = struct{}{}
	s.mu.Unlock()
	return d, nil
}

func (s *Set) fail(err error) {
	s.failures.Add(1)
	s.firstErr.CompareAndSwap(nil, &err)
}

// Stats returns the set's figures as of now: the devices opened and live,
// the tasks followed without counters or without a ring, the ring memory
// at its peak, and how --order fared. It may run on any goroutine.
func (s *Set) Stats() runstats.Devices {
	s.mu.Lock()
	live := len(s.live)
	s.mu.Unlock()
	st := runstats.Devices{Opened: int(s.opened.Load()), Live: live, Failures: int(s.failures.Load())}
	if p := s.firstErr.Load(); p != nil {
		st.FirstErr = *p
	}
	if sm := s.sampling; sm != nil {
		st.RingFailures = int(sm.ringFailures.Load())
		if p := sm.firstRingErr.Load(); p != nil {
			st.FirstRingErr = *p
		}
		st.RingBytesPeak = sm.owner.peak.Load()
		st.BadRecords = sm.badRecords.Load()
		st.Late, st.Early = sm.late.Load(), sm.early.Load()
	}
	return st
}

// Use takes a reference on d; it fails once d is closed.
func (d *Dev) Use() bool {
	if d.refs < 0 {
		return false
	}
	d.refs++
	return true
}

// Unuse drops a reference. The last one ends the observation: the task is
// gone or no longer followed (see Close).
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

// Close ends the observation: it reads the final counts, closes the
// counters, takes d out of the live devices and hands its Final to the
// set's sink. In a counting set it does so on the caller's goroutine. In
// a sampling set it hands d to the ring owner and returns: the owner
// drains d's ring and ends d in its next round (within Batch ms), and
// hands the ring back, to be unmapped by the next Close (or Set.Close),
// so that no record is lost to the unmap. It is idempotent.
func (d *Dev) Close() {
	d.mu.Lock()
	if d.group == nil || d.retiring {
		d.mu.Unlock()
		return
	}
	if sm := d.set.sampling; sm != nil {
		d.retiring = true
		d.mu.Unlock()
		sm.owner.retire(d)
		return
	}
	d.mu.Unlock()
	d.end()
}

// end reads the final counts, closes the counters, hands the Final to
// the sink, and returns it.
func (d *Dev) end() Final {
	d.mu.Lock()
	f := Final{ID: d.id, Task: d.task, Comm: d.comm, Exited: d.exited, Status: d.status,
		Values: make([]perfevent.Value, d.group.Len())}
	f.Valid = d.group.Read(f.Values) == nil
	d.group.Close()
	d.group = nil
	d.mu.Unlock()
	s := d.set
	s.mu.Lock()
	delete(s.live, d)
	s.mu.Unlock()
	if s.sink != nil {
		s.sink.Ended(f)
	}
	return f
}

// Counts is a live device's reading.
type Counts struct {
	ID uint64 // the device: a Final with this ID ends it
	pidtree.Task
	Comm string
	// Valid is false when the counters could not be read, or the device
	// was closed while the set was read (its Final carries its counts).
	Valid  bool
	Values []perfevent.Value
}

// Final is what remains of a device once it ended: its last counts and how
// its task ended.
type Final struct {
	ID uint64
	pidtree.Task
	Comm string
	// Exited is true if the task was reaped; Status is then valid.
	// Otherwise it was let go alive (detached) or the run ended.
	Exited bool
	Status unix.WaitStatus
	// Ended is true if the task ended and how is not known (a follower
	// that sees a task's end, not its status: the inherit follower).
	Ended bool
	// Valid is false when the final counts could not be read.
	Valid  bool
	Values []perfevent.Value
}

// Read reads every live device into dst (reusing its storage) and returns
// it. A device that ends while Read runs is read as not Valid: count it
// by its Final.
func (s *Set) Read(dst []Counts) []Counts {
	s.mu.Lock()
	devs := make([]*Dev, 0, len(s.live))
	for d := range s.live {
		devs = append(devs, d)
	}
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
	c.ID, c.Task, c.Comm = d.id, d.task, d.comm
	c.Valid = d.group != nil && d.group.Read(c.Values) == nil
}

// Close ends every live device (their tasks are let go: the run ends), and
// closes the seeds. In a sampling set it then stops the ring owner, once
// it drained every ring and ended every device, and unmaps the rings:
// when Close returns, the sink has seen every Final and every sample.
// Release no device after.
func (s *Set) Close() {
	s.mu.Lock()
	devs := make([]*Dev, 0, len(s.live))
	for d := range s.live {
		devs = append(devs, d)
	}
	seeds := s.seeds
	s.seeds = nil
	s.mu.Unlock()
	for _, d := range devs {
		d.Close()
	}
	if s.sampling != nil {
		// After the retirements Close queued: the rings are drained,
		// their devices ended.
		s.sampling.owner.stop()
	}
	for _, fd := range seeds {
		unix.Close(fd)
	}
}
