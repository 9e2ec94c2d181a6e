package inherit

import (
	"slices"

	"github.com/perfprof/perfprof/perfevent"
	"golang.org/x/sys/unix"
)

// merger puts the records of the CPUs' rings in time order, as perf's
// ordered events do: the reader copies each ring's new records in, then
// hands on those older than the moment it began to read (every ring had
// written them by then), and keeps the others for its next round. A
// task's FORK then comes before its first sample on another CPU, an
// exec's mappings before the samples that use them.
type merger struct {
	arena   []byte
	held    []held
	seq     uint64
	scratch perfevent.Record
}

// held is one record copied in, arena[off:off+n], and the layout of its
// ring's records.
type held struct {
	time, seq uint64
	off, n    int
	format    *perfevent.RecordFormat
}

// add copies raw, a record of a ring of format f, in, and returns its
// time (0 if it cannot be decoded: it is handed on first, to be counted
// bad).
func (m *merger) add(raw []byte, f *perfevent.RecordFormat) uint64 {
	var t uint64
	if perfevent.DecodeRecord(raw, f, &m.scratch) == nil {
		t = m.scratch.SampleID.Time
		if m.scratch.Type == unix.PERF_RECORD_SAMPLE {
			t = m.scratch.Sample.Time
		}
	}
	m.seq++
	m.held = append(m.held, held{time: t, seq: m.seq, off: len(m.arena), n: len(raw), format: f})
	m.arena = append(m.arena, raw...)
	return t
}

// pop hands fn the records of time up to horizon, oldest first, and keeps
// the others.
func (m *merger) pop(horizon uint64, fn func(raw []byte, f *perfevent.RecordFormat)) {
	slices.SortFunc(m.held, func(a, b held) int {
		switch {
		case a.time < b.time:
			return -1
		case a.time > b.time:
			return 1
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	i := 0
	for ; i < len(m.held) && m.held[i].time <= horizon; i++ {
		h := m.held[i]
		fn(m.arena[h.off:h.off+h.n], h.format)
	}
	if i == len(m.held) {
		m.held, m.arena = m.held[:0], m.arena[:0]
		return
	}
	rest := m.held[i:]
	arena := make([]byte, 0, len(m.arena))
	for j := range rest {
		h := &rest[j]
		off := len(arena)
		arena = append(arena, m.arena[h.off:h.off+h.n]...)
		h.off = off
	}
	m.held = append(m.held[:0], rest...)
	m.arena = arena
}
