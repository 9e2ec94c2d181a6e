package stream

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"github.com/perfprof/perfprof/runstats"
)

// Profiles takes the samples and the address-space records of a run
// instead of sample lines (profiles.Builder). Its methods run on the ring
// owner's goroutine.
type Profiles interface {
	Sample(s *profdev.Sample)
	Mmap(t pidtree.Task, m *perfevent.Mmap2Record)
	Exec(t pidtree.Task, comm []byte)
}

// SampleOptions are a SampleWriter's, all given to NewSampleWriter.
type SampleOptions struct {
	// Fields are the tracepoint field decoders, by event (a nil one, or
	// none at all: not a tracepoint, no fields written).
	Fields []*perfevent.FieldDecoder
	// Wall is added to a sample's time (the kernel's monotonic clock)
	// to make it wall-clock time (perfevent.MonotonicToWall).
	Wall int64
	// Limit stops the samples at this many (-N): the ones after it are
	// not written. 0: no limit.
	Limit int64
	// OnLimit, if not nil, is called once, on the ring owner's
	// goroutine, when the Limit-th sample was written: the run should
	// stop.
	OnLimit func()
	// OnLost, if not nil, is called when the kernel dropped records, at
	// most once a second, with the number lost so far, on the goroutine
	// that was told of the loss (see profdev.SampleSink.Lost): a warning.
	OnLost func(total int64)
	// Profiles, if not nil, takes the samples instead of lines.
	Profiles Profiles
}

// SampleWriter writes the samples of a run to a Stream, as the ring owner
// hands them over (it is a profdev.SampleSink): one line each, in perf
// script's style or as a JSON record, as the Stream writes. It counts
// them and the records the kernel lost, and stops at Options.Limit. With
// Options.Profiles, it hands the samples there instead.
//
// Sample, Flush, Mmap and Exec run on the ring owner's goroutine; Lost
// and Stats may be called from any goroutine.
type SampleWriter struct {
	out    *Stream
	names  []string                  // the events, by index
	fields []*perfevent.FieldDecoder // tracepoint field decoders, by event (nil: not a tracepoint)
	json   bool
	wall   int64
	limit  int64
	onStop func()
	onLost func(total int64)
	prof   Profiles

	samples atomic.Int64 // written
	lost    atomic.Int64

	stopOnce sync.Once
	lastWarn atomic.Int64 // unix ns of the last OnLost

	// buf holds the lines of the ring owner's round, handed to the Stream
	// at its end (Flush) or when it grows past flushAt: one hand-over and
	// one write for many samples. Ring owner goroutine only.
	buf []byte
}

// flushAt is the most sample bytes the writer holds before it hands them
// over.
const flushAt = 64 << 10

var _ profdev.SideBandSink = (*SampleWriter)(nil)

// NewSampleWriter returns the writer of the samples of s's events
// (Options.Events, by index).
func NewSampleWriter(s *Stream, opt SampleOptions) *SampleWriter {
	fields := make([]*perfevent.FieldDecoder, len(s.names))
	copy(fields, opt.Fields)
	w := &SampleWriter{out: s, names: s.names, fields: fields, json: s.json, wall: opt.Wall,
		limit: opt.Limit, onStop: opt.OnLimit, onLost: opt.OnLost, prof: opt.Profiles}
	if w.onStop == nil {
		w.onStop = func() {}
	}
	return w
}

// Stats returns the samples written and lost so far.
func (w *SampleWriter) Stats() runstats.Samples {
	return runstats.Samples{Sampling: true, Written: w.samples.Load(), Lost: w.lost.Load()}
}

// Sample writes one sample. Ring owner goroutine.
func (w *SampleWriter) Sample(s *profdev.Sample) {
	if w.limit > 0 && w.samples.Load() >= w.limit {
		return
	}
	if w.prof != nil {
		w.prof.Sample(s)
		if n := w.samples.Add(1); w.limit > 0 && n >= w.limit {
			w.stopOnce.Do(w.onStop)
		}
		return
	}
	if w.buf == nil {
		w.buf = getLineBuf(flushAt + 4096)
	}
	if w.json {
		w.buf = w.appendJSON(w.buf, s)
	} else {
		w.buf = w.appendText(w.buf, s)
	}
	n := w.samples.Add(1)
	if len(w.buf) >= flushAt {
		w.Flush()
	}
	if w.limit > 0 && n >= w.limit {
		w.Flush()
		w.stopOnce.Do(w.onStop)
	}
}

// Flush hands the lines held over to the Stream, which writes them at
// once if nothing is queued before them. Ring owner goroutine.
func (w *SampleWriter) Flush() {
	if len(w.buf) > 0 {
		w.out.line(w.buf, true)
		w.buf = nil
	}
}

// Mmap hands a mapping record to the profiles. Ring owner goroutine.
func (w *SampleWriter) Mmap(t pidtree.Task, m *perfevent.Mmap2Record) {
	if w.prof != nil {
		w.prof.Mmap(t, m)
	}
}

// Exec hands an exec record to the profiles. Ring owner goroutine.
func (w *SampleWriter) Exec(t pidtree.Task, comm []byte) {
	if w.prof != nil {
		w.prof.Exec(t, comm)
	}
}

// Lost counts records the kernel dropped: task t's ring was full. In
// JSON it writes a "lost" record. Safe for concurrent use.
func (w *SampleWriter) Lost(t pidtree.Task, n uint64) {
	w.lost.Add(int64(n))
	if w.json {
		w.out.lostRecord(t, int64(n))
	}
	now, last := time.Now().UnixNano(), w.lastWarn.Load()
	if w.onLost != nil && now-last >= int64(time.Second) && w.lastWarn.CompareAndSwap(last, now) {
		w.onLost(w.lost.Load())
	}
}

// appendText appends s in perf script's style:
//
//	comm pid/tid [cpu] seconds.nanoseconds: period event: ip fields
//	    callchain, one frame per line, kernel frames marked [k]
func (w *SampleWriter) appendText(b []byte, s *profdev.Sample) []byte {
	b = appendPadded(b, s.Comm, 16)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(s.Record.PID), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(s.Record.TID), 10)
	b = append(b, " ["...)
	if s.Record.CPU < 100 {
		b = append(b, '0')
	}
	if s.Record.CPU < 10 {
		b = append(b, '0')
	}
	b = strconv.AppendInt(b, int64(s.Record.CPU), 10)
	b = append(b, "] "...)
	t := uint64(int64(s.Record.Time) + w.wall)
	b = strconv.AppendUint(b, t/1e9, 10)
	b = append(b, '.')
	var nb [20]byte
	ns := strconv.AppendUint(nb[:0], t%1e9+1e9, 10) // zero-padded
	b = append(b, ns[1:]...)
	b = append(b, ": "...)
	b = strconv.AppendUint(b, s.Record.Period, 10)
	b = append(b, ' ')
	b = append(b, w.names[s.Event]...)
	b = append(b, ": "...)
	b = strconv.AppendUint(b, s.Record.IP, 16)
	if d := w.fields[s.Event]; d != nil {
		b = append(b, ' ')
		b = d.AppendText(b, s.Record.Raw)
	}
	b = append(b, '\n')
	kernel := false
	for _, ip := range s.Record.Callchain {
		if ctx, ok := perfevent.CallchainMarker(ip); ok {
			kernel = ctx.Kernel()
			continue
		}
		b = append(b, "\t    "...)
		b = strconv.AppendUint(b, ip, 16)
		if kernel {
			b = append(b, " [k]"...)
		}
		b = append(b, '\n')
	}
	return b
}

// appendJSON appends s as a JSON sample record.
func (w *SampleWriter) appendJSON(b []byte, s *profdev.Sample) []byte {
	b = append(b, `{"type":"sample","time":`...)
	b = strconv.AppendInt(b, int64(s.Record.Time)+w.wall, 10)
	b = append(b, `,"pid":`...)
	b = strconv.AppendInt(b, int64(s.Record.PID), 10)
	b = append(b, `,"tid":`...)
	b = strconv.AppendInt(b, int64(s.Record.TID), 10)
	b = append(b, `,"comm":`...)
	b = perfevent.AppendJSONString(b, s.Comm)
	b = append(b, `,"cpu":`...)
	b = strconv.AppendInt(b, int64(s.Record.CPU), 10)
	b = append(b, `,"event":`...)
	b = perfevent.AppendJSONString(b, w.names[s.Event])
	b = append(b, `,"period":`...)
	b = strconv.AppendUint(b, s.Record.Period, 10)
	b = append(b, `,"ip":"0x`...)
	b = strconv.AppendUint(b, s.Record.IP, 16)
	b = append(b, '"')
	if len(s.Record.Callchain) > 0 {
		b = append(b, `,"callchain":[`...)
		first := true
		for _, ip := range s.Record.Callchain {
			if _, ok := perfevent.CallchainMarker(ip); ok {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, `"0x`...)
			b = strconv.AppendUint(b, ip, 16)
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	if d := w.fields[s.Event]; d != nil {
		b = append(b, `,"fields":`...)
		b = d.AppendJSON(b, s.Record.Raw)
	}
	return append(b, "}\n"...)
}

// appendPadded appends s right-aligned in n columns, as perf script does.
func appendPadded(b []byte, s string, n int) []byte {
	for i := len(s); i < n; i++ {
		b = append(b, ' ')
	}
	return append(b, s...)
}
