package profdev

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
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
// report model). Its methods are called on the goroutine that started or
// ended the device (the tracer's, on its stop path: they must be quick),
// never with the set's lock held. A device is Started before Read can
// see it, and Ended after Read stops seeing it.
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

	ring     *perfevent.Ring // when sampling; the ring owner's once added
	ids      []uint64        // the kernel's ids of the group's events, in spec order
	retiring bool            // its ring is being read to its end (Close)
	lostSeen uint64          // records lost as PERF_RECORD_LOST said (ring owner only)
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

// Live returns how many devices are open.
func (s *Set) Live() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
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
// set's sink. A device with a ring has it read to its end first: an
// empty ring is unmapped at once and the rest done on the caller's
// goroutine; otherwise the ring owner reads it and does the rest on its
// own goroutine, in its next round (within Batch ms), and Close returns at
// once. No record is lost to the unmap. It is idempotent.
func (d *Dev) Close() {
	d.mu.Lock()
	if d.group == nil || d.retiring {
		d.mu.Unlock()
		return
	}
	if d.ring != nil {
		d.retiring = true
		fd := d.group.FDs()[0]
		d.mu.Unlock()
		sm := d.set.sampling
		sm.owner.retire(fd, func() {
			sm.ringBytes.Add(-int64(d.ring.Size()))
			f := d.finish()
			// The kernel writes PERF_RECORD_LOST only once the ring has
			// room again: what a task lost with its ring full at its end
			// only its events' own lost counts tell.
			var lost uint64
			for _, v := range f.Values {
				lost += v.Lost
			}
			if lost > d.lostSeen && sm.opt.Sink != nil {
				sm.opt.Sink.Lost(f.Task, lost-d.lostSeen)
			}
		})
		return
	}
	d.mu.Unlock()
	d.finish()
}

// finish reads the final counts, closes the counters, hands the Final to
// the sink, and returns it.
func (d *Dev) finish() Final {
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
// closes the seeds.
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
		// After the retirements Close queued: the rings are read to
		// their ends, their devices ended.
		s.sampling.owner.stop()
	}
	for _, fd := range seeds {
		unix.Close(fd)
	}
}

// SamplingOptions make a Set sample: its specs sample (perfevent.Sampling),
// and each device gets a ring of 2^RingOrder data pages, read by one
// owner goroutine for the whole set.
type SamplingOptions struct {
	RingOrder int
	Sink      SampleSink
	// Watermark says that the rings wake their reader at a watermark
	// (perfevent.SampleOptions.Watermark), not at every sample: the
	// kernel batches the records, and the owner reads them as soon as
	// it wakes, with no linger.
	Watermark bool
	// Order hands the samples of all rings on in time order (see
	// OrderWindow), holding at most OrderLimit bytes of them (0:
	// the package's OrderLimit).
	Order      bool
	OrderLimit int
}

// SampleSink receives what the rings hold. Sample runs on the ring
// owner's goroutine, and a Sample is valid until it returns. Lost runs
// there too, or, for what a task lost at its end, on the goroutine that
// ends the task: it must be safe for concurrent use.
type SampleSink interface {
	Sample(s *Sample)
	// Flush ends a round of the ring owner: what Sample held may be
	// written now.
	Flush()
	// Lost says that the kernel dropped n records of task t: its ring was
	// full.
	Lost(t pidtree.Task, n uint64)
}

// SideBandSink is a SampleSink that also follows the address spaces of
// the tasks (perfevent.SampleOptions.Mappings). Its methods run on the
// ring owner's goroutine, in each ring's order with the samples; the
// records are valid until they return.
type SideBandSink interface {
	SampleSink
	// Mmap says that task t's process mapped m (an executable mapping).
	Mmap(t pidtree.Task, m *perfevent.Mmap2Record)
	// Exec says that task t's process executed a new program, comm: its
	// mappings are gone.
	Exec(t pidtree.Task, comm []byte)
}

// Sample is one sample of a followed task.
type Sample struct {
	Task   pidtree.Task // the task's identity, as the tracer knows it
	Comm   string
	Event  int // the index of the event in the set's specs
	Record *perfevent.SampleRecord
}

// sampling is a Set's sampling state.
type sampling struct {
	opt    SamplingOptions
	owner  *ringOwner
	format perfevent.RecordFormat
	// Owner goroutine only:
	rec      perfevent.Record
	sample   Sample
	order    *reorder     // with Order
	sideBand SideBandSink // opt.Sink, if it is one
	late     atomic.Int64
	early    atomic.Int64

	ringFailures atomic.Int64
	firstRingErr atomic.Pointer[error]
	mapped       atomic.Int64 // rings mapped so far
	ringBytes    atomic.Int64 // ring memory mapped now
	ringPeak     atomic.Int64 // the most mapped at once
	badRecords   atomic.Int64
}

// EnableSampling makes the set sample; call it before the first Arm. The
// set's specs must sample (perfevent.Sampling).
func (s *Set) EnableSampling(opt SamplingOptions) error {
	if !perfevent.Sampled(s.specs) {
		return errors.New("profdev: the events do not sample")
	}
	format, err := perfevent.RingFormat(s.specs)
	if err != nil {
		return err
	}
	sm := &sampling{opt: opt, format: format}
	var rounds *roundHooks
	if opt.Order {
		limit := opt.OrderLimit
		if limit <= 0 {
			limit = OrderLimit
		}
		sm.order = &reorder{limit: limit, emit: s.emitHeld}
		rounds = &roundHooks{end: s.endRound, held: sm.order.held}
	}
	if sm.owner, err = newRingOwner(s.handleRecord, rounds); err != nil {
		return err
	}
	sm.owner.noLinger = opt.Watermark
	if opt.Sink != nil {
		sm.owner.flush = opt.Sink.Flush
		sm.sideBand, _ = opt.Sink.(SideBandSink)
	}
	s.sampling = sm
	return nil
}

// DrainRings reads every ring now and returns once what they held went to
// the sink: for a report of the samples so far when the rings wake their
// reader only at a watermark. It returns at once without sampling.
func (s *Set) DrainRings() {
	if s.sampling != nil {
		s.sampling.owner.drainNow()
	}
}

// mapRing gives d its ring: the leader's, into which the members write
// too. A ring that cannot be mapped (pinned memory spent) is no reason to
// stop counting the task: the caller decides.
func (s *Set) mapRing(d *Dev) error {
	sm := s.sampling
	ring, err := perfevent.MapRing(d.group.FDs()[0], sm.opt.RingOrder)
	if err != nil {
		return err
	}
	if d.group.Len() > 1 {
		// One event needs neither: its samples are all its own.
		if err = d.group.Redirect(); err == nil {
			d.ids, err = d.group.IDs(d.ids[:0])
		}
	}
	if err != nil {
		ring.Close()
		return err
	}
	sm.owner.add(d.group.FDs()[0], ring, d)
	d.ring = ring
	sm.mapped.Add(1)
	now := sm.ringBytes.Add(int64(ring.Size()))
	for p := sm.ringPeak.Load(); now > p && !sm.ringPeak.CompareAndSwap(p, now); p = sm.ringPeak.Load() {
	}
	return nil
}

// handleRecord decodes a record of d's ring. Owner goroutine.
func (s *Set) handleRecord(cookie any, raw []byte) {
	d := cookie.(*Dev)
	sm := s.sampling
	if err := perfevent.DecodeRecord(raw, &sm.format, &sm.rec); err != nil {
		sm.badRecords.Add(1)
		return
	}
	switch sm.rec.Type {
	case unix.PERF_RECORD_SAMPLE:
		d.mu.Lock()
		task, comm := d.task, d.comm
		d.mu.Unlock()
		if sm.order != nil {
			sm.order.push(sm.rec.Sample.Time, d, task, comm, raw)
			return
		}
		s.sample(d, task, comm, &sm.rec.Sample)
	case unix.PERF_RECORD_MMAP2, unix.PERF_RECORD_COMM:
		if sb := sm.sideBand; sb != nil {
			d.mu.Lock()
			t := d.task
			d.mu.Unlock()
			if sm.rec.Type == unix.PERF_RECORD_MMAP2 {
				sb.Mmap(t, &sm.rec.Mmap2)
			} else if sm.rec.Misc&perfevent.MiscCommExec != 0 {
				sb.Exec(t, sm.rec.Comm.Name)
			}
		}
	case unix.PERF_RECORD_LOST, unix.PERF_RECORD_LOST_SAMPLES:
		d.lostSeen += sm.rec.Lost.Count
		if sm.opt.Sink != nil {
			d.mu.Lock()
			t := d.task
			d.mu.Unlock()
			sm.opt.Sink.Lost(t, sm.rec.Lost.Count)
		}
	}
}

// sample hands a sample of d to the sink. Owner goroutine.
func (s *Set) sample(d *Dev, task pidtree.Task, comm string, rec *perfevent.SampleRecord) {
	sm := s.sampling
	smp := &sm.sample
	smp.Task, smp.Comm, smp.Record = task, comm, rec
	smp.Event = 0
	for i, id := range d.ids {
		if id == rec.ID {
			smp.Event = i
			break
		}
	}
	if sm.opt.Sink != nil {
		sm.opt.Sink.Sample(smp)
	}
}

// emitHeld hands on a sample the reorder buffer held. Owner goroutine.
func (s *Set) emitHeld(h *heldSample) {
	sm := s.sampling
	if err := perfevent.DecodeRecord(h.raw, &sm.format, &sm.rec); err != nil {
		sm.badRecords.Add(1) // it decoded once: cannot happen
		return
	}
	s.sample(h.dev, h.task, h.comm, &sm.rec.Sample)
}

// endRound ends a round of the ring owner that began at start: every
// sample taken OrderWindow before it is handed on. Owner goroutine.
func (s *Set) endRound(start uint64) {
	sm := s.sampling
	horizon := start
	if start != ^uint64(0) {
		horizon = start - min(start, OrderWindow)
	}
	sm.order.flush(horizon)
	sm.late.Store(sm.order.late)
	sm.early.Store(sm.order.early)
}

// OrderStats says how --order fared: the samples handed on out of time
// order (they came too late for their turn), and those handed on before
// their time because the held samples reached the limit.
func (s *Set) OrderStats() (late, early int64) {
	if sm := s.sampling; sm != nil {
		return sm.late.Load(), sm.early.Load()
	}
	return 0, 0
}

// RingStats says how the rings fared: how many tasks could get no ring
// (and the first reason), the most ring memory mapped at once (data pages,
// in bytes), and the records that could not be decoded.
func (s *Set) RingStats() (failures int, err error, bytes int64, bad int64) {
	sm := s.sampling
	if sm == nil {
		return 0, nil, 0, 0
	}
	if p := sm.firstRingErr.Load(); p != nil {
		err = *p
	}
	return int(sm.ringFailures.Load()), err, sm.ringPeak.Load(), sm.badRecords.Load()
}
