package perfevent

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// InheritReadFormat is the read_format of an inherited group's events
// (OpenInherited): each event is read, and reports each task's end in a
// PERF_RECORD_READ, on its own, with its id.
const InheritReadFormat = unix.PERF_FORMAT_TOTAL_TIME_ENABLED | unix.PERF_FORMAT_TOTAL_TIME_RUNNING |
	unix.PERF_FORMAT_ID

// inheritSampleTypes make up the sample_id trailer of a counting
// inherited group's records: which event, which task, when (on
// CLOCK_MONOTONIC, as samples), on which CPU.
const inheritSampleTypes = unix.PERF_SAMPLE_IDENTIFIER | unix.PERF_SAMPLE_TID | unix.PERF_SAMPLE_TIME |
	unix.PERF_SAMPLE_CPU

// InheritedAttrs returns the attrs OpenInherited opens specs with: the
// specs' own (sampling or counting), inherited (inherit) with each task's
// final counts written at its exit (inherit_stat), and the leader writing
// the task records (PERF_RECORD_FORK, EXIT, COMM with the exec flag) that
// tell a follower the tree; every record carries its sample_id. A
// counting spec is given the sample_type of that trailer only.
//
// With a pulse (counting specs only), the first attr is the pulse, the
// group's leader: a task-clock, not inherited-stat, that samples every
// pulse ns of a task's CPU time, each sample carrying the task's own
// counts of the group on that CPU (PERF_SAMPLE_READ, which Linux 6.12
// and later allow with inherit: a copy's counts, not its parent's sum).
// Every event then reads as a group (PERF_FORMAT_GROUP), so that one
// record format decodes the ring.
func InheritedAttrs(specs []Spec, pulse uint64) []unix.PerfEventAttr {
	var attrs []unix.PerfEventAttr
	readFormat := uint64(InheritReadFormat)
	if pulse > 0 {
		readFormat |= unix.PERF_FORMAT_GROUP
		// It counts the modes the first event counts: a user may count
		// only user time (perf_event_paranoid 2).
		attrs = append(attrs, unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_TASK_CLOCK,
			Sample: pulse, Sample_type: inheritSampleTypes | unix.PERF_SAMPLE_READ,
			Bits: specs[0].Attr.Bits & excludeMask})
	}
	for i := range specs {
		attrs = append(attrs, specs[i].Attr)
	}
	for i := range attrs {
		a := &attrs[i]
		a.Size = attrSize
		a.Read_format = readFormat
		a.Bits &^= bitsSetByOpen
		a.Bits |= unix.PerfBitInherit | unix.PerfBitInheritStat | unix.PerfBitSampleIDAll | unix.PerfBitUseClockID
		a.Clockid = unix.CLOCK_MONOTONIC
		if a.Sample == 0 {
			a.Sample_type = inheritSampleTypes
			if pulse > 0 {
				a.Sample_type |= unix.PERF_SAMPLE_READ
			}
		}
		if i == 0 {
			a.Bits |= unix.PerfBitTask | unix.PerfBitComm | unix.PerfBitCommExec
		}
		if i == 0 && pulse > 0 {
			a.Bits &^= unix.PerfBitInheritStat
		}
	}
	return attrs
}

// Inherited is one group of events opened by OpenInherited: on one task,
// counting it on one CPU, and inherited by every task it creates.
type Inherited struct {
	FDs []int    // in spec order; FDs[0] the leader
	IDs []uint64 // the kernel's id of each event, in spec order
	// Ring is the ring mapped on the leader when OpenInherited was given
	// no output; the caller unmaps it.
	Ring *Ring
}

// OpenInherited opens attrs (InheritedAttrs) as one group on task tid,
// counting it while it runs on CPU cpu: every task tid creates from now
// on inherits a copy of the group (before it runs its first instruction),
// and the copies of its own creations, and so on. Each event's records go
// to the ring mapped on output, an event of the same CPU; with output -1,
// to a ring of 2^order data pages mapped on the leader (Ring). With
// enableOnExec the group counts from tid's next execve.
//
// The events of one CPU must be one group, opened on every task in the
// same order: Linux swaps the contexts of a parent and a child that are
// alike, and then swaps their counts event by event in the order of each
// context's list (perf_event_sync_stat). Events of different PMUs opened
// as separate events are listed in different orders in a parent and in
// its children (Linux 6.18: a child's page-faults took its parent's
// task-clock), a group is listed whole.
func OpenInherited(attrs []unix.PerfEventAttr, names []string, tid, cpu, output, order int, enableOnExec bool) (*Inherited, error) {
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
		out := output
		if out < 0 && i == 0 {
			// Mapped before a member is redirected to it: Linux
			// refuses to redirect to an event without a ring.
			r, err := MapRing(fd, order)
			if err != nil {
				g.Close()
				return nil, err
			}
			g.Ring = r
		}
		if out < 0 && i > 0 {
			out = g.FDs[0]
		}
		if out >= 0 {
			if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_OUTPUT, out); err != nil {
				return fail(i, "PERF_EVENT_IOC_SET_OUTPUT", err)
			}
		}
	}
	return g, nil
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

// Close closes the group's fds (a mapped ring stays mapped until unmapped).
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
	a := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_DUMMY, Size: attrSize,
		Bits: unix.PerfBitDisabled | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv}
	fd, err := perfEventOpen(&a, tid, -1, -1)
	if err != nil {
		return -1, openFailed(event, tid, "perf_event_open", err)
	}
	return fd, nil
}
