package perfevent

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// SampleOptions make events sample instead of only counting.
type SampleOptions struct {
	// Period samples every Period events; Freq, Freq times a second (the
	// kernel adjusts the period). Exactly one is set.
	Period, Freq uint64
	// CallGraph records the call chain of each sample (kernel and user
	// frames, from the frame pointers).
	CallGraph bool
	// Watermark, if not 0, wakes the reader when the ring is Watermark
	// percent full (at most MaxWatermark), instead of at every sample;
	// RingPages is the ring's number of data pages, to which it is a share.
	Watermark, RingPages int
	// LostCount asks the kernel to count the records it drops for each
	// event (PERF_FORMAT_LOST, Linux 6.0): read with the counts, it tells
	// the losses that no PERF_RECORD_LOST reports (those of a task that
	// ends with its ring full).
	LostCount bool
	// Mappings has the first event (the group's leader, whose ring the
	// others write into) record its task's executable mappings and
	// execs: PERF_RECORD_MMAP2 for each mmap of an executable file and
	// PERF_RECORD_COMM (with MiscCommExec at an execve), what a
	// symbolizer needs to follow a process's address space.
	Mappings bool
}

// MaxWatermark is the highest watermark, in percent of the ring. A ring
// woken only when full loses every record until it is read, and the
// kernel wakes it no more once it is full.
const MaxWatermark = 90

// SampleTypes are the PERF_SAMPLE_* bits of every sample perfprof takes:
// the event's id first (IDENTIFIER, so that the events of one ring are
// told apart), the task, the time (CLOCK_REALTIME), the CPU and the
// instruction pointer; PERIOD when sampling by frequency (the kernel
// changes the period), CALLCHAIN with a call graph, RAW with a tracepoint
// among the events (every event of a ring must write the same layout; a
// software event's RAW is 4 zero bytes).
//
// A fixed period is not asked for: it is known (RecordFormat.Period),
// and Linux 6.18 samples a software event or a tracepoint with a fixed
// period at every event when its samples carry PERF_SAMPLE_PERIOD (-c
// 1000000 -e page-faults sampled every fault of a fork loop: 20 times
// the samples, 2.5 times the following cost). perf record asks for it
// only with --period, which shows the same.
const SampleTypes = unix.PERF_SAMPLE_IDENTIFIER | unix.PERF_SAMPLE_TID | unix.PERF_SAMPLE_TIME |
	unix.PERF_SAMPLE_CPU | unix.PERF_SAMPLE_IP

// Sampling returns specs made to sample with opt: each event samples, with
// the same sample_type (see SampleTypes), sample_id_all so that lost
// records name their task, and times on CLOCK_MONOTONIC: the one clock
// every PMU takes (the others are refused, EINVAL, by a PMU that samples
// in NMI context, hardware and tracepoints alike), and the same on every
// CPU. MonotonicToWall turns them into wall-clock time.
func Sampling(specs []Spec, opt SampleOptions) ([]Spec, error) {
	switch {
	case opt.Period == 0 && opt.Freq == 0, opt.Period != 0 && opt.Freq != 0:
		return nil, fmt.Errorf("perfevent: sample by a period or by a frequency")
	case opt.Watermark < 0 || opt.Watermark > MaxWatermark:
		return nil, fmt.Errorf("perfevent: watermark %d%% is not a percentage", opt.Watermark)
	}
	st := uint64(SampleTypes)
	if opt.CallGraph {
		st |= unix.PERF_SAMPLE_CALLCHAIN
	}
	for i := range specs {
		if specs[i].Attr.Type == unix.PERF_TYPE_TRACEPOINT {
			st |= unix.PERF_SAMPLE_RAW
		}
	}
	out := make([]Spec, len(specs))
	for i, s := range specs {
		a := &s.Attr
		a.Sample_type = st
		a.Bits |= unix.PerfBitSampleIDAll | unix.PerfBitUseClockID
		a.Clockid = unix.CLOCK_MONOTONIC
		if opt.LostCount {
			a.Read_format |= unix.PERF_FORMAT_LOST
		}
		if opt.Freq != 0 {
			a.Bits |= unix.PerfBitFreq
			a.Sample = opt.Freq
			a.Sample_type |= unix.PERF_SAMPLE_PERIOD
		} else {
			a.Sample = opt.Period
		}
		if opt.Watermark == 0 {
			a.Wakeup = 1 // wake at every sample
		} else {
			a.Bits |= unix.PerfBitWatermark
			a.Wakeup = uint32(max(opt.RingPages*os.Getpagesize()*opt.Watermark/100, 8))
		}
		if opt.Mappings && i == 0 {
			a.Bits |= unix.PerfBitMmap | unix.PerfBitMmap2 | unix.PerfBitComm | unix.PerfBitCommExec
		}
		out[i] = s
	}
	return out, nil
}

// Sampled reports whether specs sample (see Sampling).
func Sampled(specs []Spec) bool { return len(specs) > 0 && specs[0].Attr.Sample != 0 }

// RingFormat returns the layout of the records that sampling specs write
// into one ring.
func RingFormat(specs []Spec) (RecordFormat, error) {
	if len(specs) == 0 {
		return RecordFormat{}, errNoSpecs
	}
	return NewRecordFormat(&specs[0].Attr)
}

// MonotonicToWall returns what to add to a CLOCK_MONOTONIC time (a
// sample's) to make it wall-clock (CLOCK_REALTIME) nanoseconds, as of now.
func MonotonicToWall() int64 {
	var mono, wall unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono)
	unix.ClockGettime(unix.CLOCK_REALTIME, &wall)
	return wall.Nano() - mono.Nano()
}
