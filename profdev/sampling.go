package profdev

import (
	"errors"
	"sync/atomic"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"golang.org/x/sys/unix"
)

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

// SampleSink receives what the rings hold. Its methods run on the ring
// owner's goroutine, one at a time; a Sample is valid until Sample
// returns. A sink that also implements SideBandSink gets the side-band
// records too (EnableSampling checks once).
type SampleSink interface {
	Sample(s *Sample)
	// Flush ends a round of the ring owner: what Sample held may be
	// written now.
	Flush()
	// Lost says that the kernel dropped n records of task t: its ring was
	// full. What a task lost with its ring full at its end comes as its
	// device ends.
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

	// For Stats, on any goroutine:
	late, early  atomic.Int64 // the order's, as of its last round
	ringFailures atomic.Int64
	firstRingErr atomic.Pointer[error]
	mapped       atomic.Int64 // rings mapped so far
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
	oo := ownerOptions{record: s.handleRecord, retired: s.endSampled, noLinger: opt.Watermark}
	if opt.Order {
		limit := opt.OrderLimit
		if limit <= 0 {
			limit = OrderLimit
		}
		sm.order = &reorder{limit: limit, emit: s.emitHeld}
		oo.rounds = &roundHooks{end: s.endRound, held: sm.order.held}
	}
	if opt.Sink != nil {
		oo.flush = opt.Sink.Flush
		sm.sideBand, _ = opt.Sink.(SideBandSink)
	}
	if sm.owner, err = newRingOwner(oo); err != nil {
		return err
	}
	s.sampling = sm
	return nil
}

// ReadRingsNow has the ring owner drain every ring now, and returns once
// it has: what they held went to the sink (with Order, into the held
// samples). It is for a report of the samples so far, when the rings wake
// their reader only at a watermark. It returns at once without sampling,
// or after Close.
func (s *Set) ReadRingsNow() {
	if s.sampling != nil {
		s.sampling.owner.drain()
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
	sm.owner.add(d, d.group.FDs()[0], ring)
	sm.mapped.Add(1)
	return nil
}

// endSampled ends d once the owner drained its ring: Close of a sampling
// set. Owner goroutine.
func (s *Set) endSampled(d *Dev) {
	sm := s.sampling
	f := d.end()
	// The kernel writes PERF_RECORD_LOST only once the ring has room
	// again: what a task lost with its ring full at its end only its
	// events' own lost counts tell.
	var lost uint64
	for _, v := range f.Values {
		lost += v.Lost
	}
	if lost > d.lostSeen && sm.opt.Sink != nil {
		sm.opt.Sink.Lost(f.Task, lost-d.lostSeen)
	}
}

// handleRecord decodes a record of d's ring. Owner goroutine.
func (s *Set) handleRecord(d *Dev, raw []byte) {
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
