package main

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"github.com/perfprof/perfprof/profiles"
)

// sampler writes the samples of a run, as the ring owner hands them over
// (profdev.SampleSink): one line each, in perf script's style or as a JSON
// record. It counts them and the records the kernel lost, and stops the
// run once -N samples are written.
type sampler struct {
	out    *output
	names  []string                  // the events, by index
	fields []*perfevent.FieldDecoder // tracepoint field decoders, by event (nil: not a tracepoint)
	json   bool
	wall   int64  // added to a sample's (monotonic) time: wall-clock time
	limit  int64  // -N: stop after this many samples (0: no limit)
	onStop func() // called once, at the limit
	warn   func(format string, args ...any)
	// profiles, if not nil, takes the samples instead of lines.
	profiles *profiles.Builder

	samples atomic.Int64 // written
	beyond  atomic.Int64 // read after the limit, not written
	lost    atomic.Int64

	stopOnce sync.Once
	lastWarn atomic.Int64 // unix ns of the last warning of losses

	// buf holds the lines of the ring owner's round, handed to the writer
	// at its end (Flush) or when it grows past flushAt: one hand-over and
	// one write for many samples. Ring owner goroutine only.
	buf []byte
}

// flushAt is the most sample bytes the sampler holds before it hands
// them over.
const flushAt = 64 << 10

var _ profdev.SideBandSink = (*sampler)(nil)

// Sample writes one sample. Ring owner goroutine.
func (sp *sampler) Sample(s *profdev.Sample) {
	if sp.limit > 0 && sp.samples.Load() >= sp.limit {
		sp.beyond.Add(1)
		return
	}
	if sp.profiles != nil {
		sp.profiles.Sample(s)
		if n := sp.samples.Add(1); sp.limit > 0 && n >= sp.limit {
			sp.stopOnce.Do(sp.onStop)
		}
		return
	}
	if sp.buf == nil {
		sp.buf = getLineBuf(flushAt + 4096)
	}
	if sp.json {
		sp.buf = sp.appendJSON(sp.buf, s)
	} else {
		sp.buf = sp.appendText(sp.buf, s)
	}
	n := sp.samples.Add(1)
	if len(sp.buf) >= flushAt {
		sp.Flush()
	}
	if sp.limit > 0 && n >= sp.limit {
		sp.Flush()
		sp.stopOnce.Do(sp.onStop)
	}
}

// Flush hands the lines held over to the writer. Ring owner goroutine.
func (sp *sampler) Flush() {
	if len(sp.buf) > 0 {
		sp.out.line(sp.buf, true)
		sp.buf = nil
	}
}

// Mmap hands a mapping record to the profiles. Ring owner goroutine.
func (sp *sampler) Mmap(t pidtree.Task, m *perfevent.Mmap2Record) {
	if sp.profiles != nil {
		sp.profiles.Mmap(t, m)
	}
}

// Exec hands an exec record to the profiles. Ring owner goroutine.
func (sp *sampler) Exec(t pidtree.Task, comm []byte) {
	if sp.profiles != nil {
		sp.profiles.Exec(t, comm)
	}
}

// Lost counts records the kernel dropped: a ring was full. Safe for
// concurrent use.
func (sp *sampler) Lost(t pidtree.Task, n uint64) {
	sp.lost.Add(int64(n))
	if sp.json {
		lost := int64(n)
		sp.out.event(record{Type: "lost", PID: t.TGID, TID: t.TID, Lost: &lost})
	}
	now, last := time.Now().UnixNano(), sp.lastWarn.Load()
	if now-last >= int64(time.Second) && sp.lastWarn.CompareAndSwap(last, now) {
		sp.warn("%d records lost so far: the rings were full (a larger -m, or a longer period)", sp.lost.Load())
	}
}

// appendText appends s in perf script's style:
//
//	comm pid/tid [cpu] seconds.nanoseconds: period event: ip fields
//	    callchain, one frame per line, kernel frames marked [k]
func (sp *sampler) appendText(b []byte, s *profdev.Sample) []byte {
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
	t := uint64(int64(s.Record.Time) + sp.wall)
	b = strconv.AppendUint(b, t/1e9, 10)
	b = append(b, '.')
	var nb [20]byte
	ns := strconv.AppendUint(nb[:0], t%1e9+1e9, 10) // zero-padded
	b = append(b, ns[1:]...)
	b = append(b, ": "...)
	b = strconv.AppendUint(b, s.Record.Period, 10)
	b = append(b, ' ')
	b = append(b, sp.names[s.Event]...)
	b = append(b, ": "...)
	b = strconv.AppendUint(b, s.Record.IP, 16)
	if d := sp.fields[s.Event]; d != nil {
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
func (sp *sampler) appendJSON(b []byte, s *profdev.Sample) []byte {
	b = append(b, `{"type":"sample","time":`...)
	b = strconv.AppendInt(b, int64(s.Record.Time)+sp.wall, 10)
	b = append(b, `,"pid":`...)
	b = strconv.AppendInt(b, int64(s.Record.PID), 10)
	b = append(b, `,"tid":`...)
	b = strconv.AppendInt(b, int64(s.Record.TID), 10)
	b = append(b, `,"comm":`...)
	b = perfevent.AppendJSONString(b, s.Comm)
	b = append(b, `,"cpu":`...)
	b = strconv.AppendInt(b, int64(s.Record.CPU), 10)
	b = append(b, `,"event":`...)
	b = perfevent.AppendJSONString(b, sp.names[s.Event])
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
	if d := sp.fields[s.Event]; d != nil {
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
