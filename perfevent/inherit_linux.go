package perfevent

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Events inherited by every task a target creates (the inherit follower)
// write two kinds of records, into two rings per CPU:
//
//   - The side band (PERF_RECORD_FORK, EXIT, COMM, MMAP2) and the samples,
//     from the side-band group (SideBandAttrs). Linux writes them on the
//     CPU whose ring it is, the only CPU that writes there.
//   - Each task's final counts (PERF_RECORD_READ, inherit_stat) and the
//     pulse samples, from the counting group (CountingAttrs). Linux writes
//     a copy's READ record at the task's exit, from the CPU the task exits
//     on, into the ring of the CPU the copy counted: a ring two CPUs write
//     at once. The ring's writer is not safe for that (its nest count and
//     head are CPU-local): on Linux 6.18 two exits at once on two CPUs
//     left a ring that published nothing more (a storm of 6,000 tasks on
//     2 CPUs lost a third of its records). Kept apart, such a ring loses
//     final counts only, never the tree, and is replaced when it stalls.

// InheritReadFormat is the read_format of the counting group without a
// pulse: each event is read, and reports each task's end in a
// PERF_RECORD_READ, on its own, with its id.
const InheritReadFormat = unix.PERF_FORMAT_TOTAL_TIME_ENABLED | unix.PERF_FORMAT_TOTAL_TIME_RUNNING |
	unix.PERF_FORMAT_ID

// inheritSampleTypes make up the sample_id trailer of the records: which
// event, which task, when (on CLOCK_MONOTONIC, as samples), on which CPU.
const inheritSampleTypes = unix.PERF_SAMPLE_IDENTIFIER | unix.PERF_SAMPLE_TID | unix.PERF_SAMPLE_TIME |
	unix.PERF_SAMPLE_CPU

// dummy returns the attr of a software dummy event (it counts nothing)
// with bits.
func dummy(bits uint64) unix.PerfEventAttr {
	return unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_DUMMY, Size: attrSize, Bits: bits}
}

// inherited sets the bits every inherited event has.
func inherited(a *unix.PerfEventAttr) {
	a.Size = attrSize
	a.Bits &^= bitsSetByOpen
	a.Bits |= unix.PerfBitInherit | unix.PerfBitSampleIDAll | unix.PerfBitUseClockID
	a.Clockid = unix.CLOCK_MONOTONIC
}

// SideBandAttrs returns the side-band group of specs, whose leader writes
// the task records that tell a follower the tree (PERF_RECORD_FORK, EXIT,
// COMM with the exec flag) and, with mappings, PERF_RECORD_MMAP2. When
// specs sample (Sampling), the group is the sampling events, the first
// the leader. When they count, it is a dummy that counts the modes
// specs[0] counts (a user may count only user mode at
// perf_event_paranoid 2): one more event for each task and CPU, which
// keeps the task records out of the counting ring.
func SideBandAttrs(specs []Spec, mappings bool) []unix.PerfEventAttr {
	var attrs []unix.PerfEventAttr
	if Sampled(specs) {
		for _, s := range specs {
			a := s.Attr
			a.Bits &^= unix.PerfBitMmap | unix.PerfBitMmap2 | unix.PerfBitComm | unix.PerfBitCommExec
			attrs = append(attrs, a)
		}
	} else {
		d := dummy(specs[0].Attr.Bits & excludeMask)
		d.Sample_type = inheritSampleTypes
		attrs = append(attrs, d)
	}
	attrs[0].Bits |= unix.PerfBitTask | unix.PerfBitComm | unix.PerfBitCommExec
	if mappings {
		attrs[0].Bits |= unix.PerfBitMmap | unix.PerfBitMmap2
	}
	for i := range attrs {
		inherited(&attrs[i])
	}
	return attrs
}

// CountingAttrs returns the counting group of specs: each spec counting
// (its sampling cleared), with each task's final counts written at its
// exit (inherit_stat).
//
// With a pulse, the group is led by a task-clock, not inherit_stat, that
// samples every pulse ns of a task's CPU time, each sample carrying the
// task's own counts of the group on that CPU (PERF_SAMPLE_READ, which
// Linux 6.12 and later allow with inherit: a copy's counts, not its
// parent's sum). Every event then reads as a group (PERF_FORMAT_GROUP), so
// that one record format decodes the ring.
func CountingAttrs(specs []Spec, pulse uint64) []unix.PerfEventAttr {
	var attrs []unix.PerfEventAttr
	readFormat := uint64(InheritReadFormat)
	st := uint64(inheritSampleTypes)
	if pulse > 0 {
		readFormat |= unix.PERF_FORMAT_GROUP
		st |= unix.PERF_SAMPLE_READ
		attrs = append(attrs, unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_TASK_CLOCK,
			Sample: pulse, Bits: specs[0].Attr.Bits & excludeMask})
	}
	for _, s := range specs {
		a := s.Attr
		a.Sample = 0
		a.Bits &^= unix.PerfBitFreq | unix.PerfBitMmap | unix.PerfBitMmap2 | unix.PerfBitComm | unix.PerfBitCommExec |
			unix.PerfBitWatermark
		a.Bits |= unix.PerfBitInheritStat
		a.Wakeup = 0
		attrs = append(attrs, a)
	}
	for i := range attrs {
		inherited(&attrs[i])
		attrs[i].Read_format = readFormat
		attrs[i].Sample_type = st
	}
	return attrs
}

// Inherited is one group of events opened by OpenInherited: on one task,
// counting it on one CPU, and inherited by every task it creates.
type Inherited struct {
	FDs []int    // in attr order; FDs[0] the leader
	IDs []uint64 // the kernel's id of each event, in attr order
}

// OpenInherited opens attrs (SideBandAttrs, CountingAttrs) as one group
// on task tid, counting it while it runs on CPU cpu: every task tid
// creates from now on inherits a copy of the group (before it runs its
// first instruction), and the copies of its own creations, and so on.
// Its records go to the ring of output (a RingOwner of the same CPU).
// With enableOnExec the group counts from tid's next execve.
//
// The events of one CPU must be one group, opened on every task in the
// same order: Linux swaps the contexts of a parent and a child that are
// alike, and then swaps their counts event by event in the order of each
// context's list (perf_event_sync_stat). Events of different PMUs opened
// as separate events are listed in different orders in a parent and in
// its children (Linux 6.18: a child's page-faults took its parent's
// task-clock), a group is listed whole.
func OpenInherited(attrs []unix.PerfEventAttr, names []string, tid, cpu, output int, enableOnExec bool) (*Inherited, error) {
	g := &Inherited{FDs: make([]int, 0, len(attrs)), IDs: make([]uint64, 0, len(attrs))}
	fail := func(i int, op string, err error) (*Inherited, error) {
		g.Close()
		return nil, openFailed(names[i], tid, op, err)
	}
	for i := range attrs {
		a := attrs[i]
		group := -1
		if i == 0 {
			if enableOnExec {
				a.Bits |= unix.PerfBitDisabled | unix.PerfBitEnableOnExec
			}
		} else {
			group = g.FDs[0]
		}
		fd, err := perfEventOpen(&a, tid, cpu, group)
		if err != nil {
			return fail(i, "perf_event_open", err)
		}
		g.FDs = append(g.FDs, fd)
		var id uint64
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.PERF_EVENT_IOC_ID, uintptr(unsafe.Pointer(&id))); e != 0 {
			return fail(i, "PERF_EVENT_IOC_ID", e)
		}
		g.IDs = append(g.IDs, id)
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_OUTPUT, output); err != nil {
			return fail(i, "PERF_EVENT_IOC_SET_OUTPUT", err)
		}
	}
	return g, nil
}

// Redirect sends the group's records to the ring of output (a RingOwner
// of the group's CPU) from now on, its copies' too: they write through
// the event they were copied from.
func (g *Inherited) Redirect(output int) error {
	for _, fd := range g.FDs {
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_OUTPUT, output); err != nil {
			return fmt.Errorf("redirect an inherited event: %w", err)
		}
	}
	return nil
}

// Read reads event i: its count in its task and every task that inherited
// it (live ones read now, ended ones as they ended), with its times.
func (g *Inherited) Read(i int) (Value, error) {
	// value, time_enabled, time_running, id; or, as a group: nr,
	// time_enabled, time_running, then value and id for each event.
	b := make([]byte, 24+16*len(g.FDs))
	n, err := unix.Read(g.FDs[i], b)
	switch {
	case err != nil:
		return Value{}, fmt.Errorf("read inherited counter: %w", err)
	case n == 32:
		return Value{Raw: binary.NativeEndian.Uint64(b[:]), Enabled: binary.NativeEndian.Uint64(b[8:]),
			Running: binary.NativeEndian.Uint64(b[16:])}, nil
	case n == len(b):
		v := Value{Enabled: binary.NativeEndian.Uint64(b[8:]), Running: binary.NativeEndian.Uint64(b[16:])}
		for j := range g.FDs {
			if binary.NativeEndian.Uint64(b[24+16*j+8:]) == g.IDs[i] {
				v.Raw = binary.NativeEndian.Uint64(b[24+16*j:])
				return v, nil
			}
		}
	}
	return Value{}, errBadLayout
}

// Close closes the group's fds.
func (g *Inherited) Close() error {
	var first error
	for _, fd := range g.FDs {
		if err := unix.Close(fd); err != nil && first == nil {
			first = err
		}
	}
	g.FDs = nil
	return first
}

// RingOwner is a ring of one CPU that inherited events write into
// (OpenInherited's output): a disabled dummy event on perfprof itself,
// never inherited, that holds the ring; it never hangs up, and a new one
// can take over from one whose ring stalled (Redirect).
type RingOwner struct {
	FD   int
	Ring *Ring
}

// NewRingOwner maps a ring of 2^order data pages for CPU cpu, whose
// reader is woken when wakeup bytes are in it (0: at every record).
// exclude are the exclude bits of the events it takes (perf_event_paranoid
// 2 refuses a dummy that counts the kernel to a user).
func NewRingOwner(cpu, order int, wakeup uint32, exclude uint64) (*RingOwner, error) {
	a := dummy(unix.PerfBitDisabled | unix.PerfBitUseClockID | exclude&excludeMask)
	a.Clockid = unix.CLOCK_MONOTONIC
	if wakeup > 0 {
		a.Bits |= unix.PerfBitWatermark
		a.Wakeup = wakeup
	} else {
		a.Wakeup = 1
	}
	fd, err := perfEventOpen(&a, 0, cpu, -1)
	if err != nil {
		return nil, openFailed("dummy", 0, "perf_event_open", err)
	}
	r, err := MapRing(fd, order)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &RingOwner{FD: fd, Ring: r}, nil
}

// Close unmaps the ring and closes the event.
func (o *RingOwner) Close() error {
	err := o.Ring.Close()
	if cerr := unix.Close(o.FD); err == nil {
		err = cerr
	}
	return err
}

// Anchor opens, on task tid, an event that its children do not inherit
// (a disabled dummy), and returns its fd: kept open, it keeps the
// inherited events tid holds in tid. Linux swaps the event contexts of
// two tasks alike on a context switch rather than switch their events
// (perf_event_context_sched_out), and the context of a parent is alike
// its child's when every one of its events was inherited: the parent's
// own events would then end in the child, and the child's copies in the
// parent (which then writes READ records at its end, and the events it
// was opened with hang up at the child's). One event not inherited makes
// the children's contexts their own. Between a child and its own
// children, all of them copies, the swap changes nothing that matters.
// event names the run's first event: an error is the open's of the
// events on tid, as the user knows them.
func Anchor(tid int, event string) (int, error) {
	a := dummy(unix.PerfBitDisabled | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv)
	fd, err := perfEventOpen(&a, tid, -1, -1)
	if err != nil {
		return -1, openFailed(event, tid, "perf_event_open", err)
	}
	return fd, nil
}
