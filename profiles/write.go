package profiles

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/symbol"
)

// name is how a frame reads in folded stacks and in the top: its function,
// or where it lies.
func name(f symbol.Frame) string {
	if f.Func != "" {
		return f.Func
	}
	return f.String()
}

// WriteFolded writes the profiles as folded stacks, one line per distinct
// stack of each process: "comm-pid;outer;...;inner count", kernel frames
// suffixed "_[k]", as flamegraph.pl and speedscope read them. The count is
// the number of samples.
func WriteFolded(w io.Writer, ps []*Process) error {
	bw := bufio.NewWriter(w)
	type line struct {
		text  string
		count int64
	}
	for _, p := range ps {
		root := strings.ReplaceAll(p.Comm, ";", "_") + "-" + strconv.Itoa(p.PID)
		lines := map[string]int64{} // threads of one process merge
		for _, st := range p.Stacks {
			var b strings.Builder
			b.WriteString(root)
			for i := len(st.Frames) - 1; i >= 0; i-- {
				f := p.Frames.Frame(st.Frames[i])
				b.WriteByte(';')
				b.WriteString(strings.ReplaceAll(name(f), ";", "_"))
				if f.Kernel {
					b.WriteString("_[k]")
				}
			}
			lines[b.String()] += st.Count
		}
		sorted := make([]line, 0, len(lines))
		for t, c := range lines {
			sorted = append(sorted, line{t, c})
		}
		slices.SortFunc(sorted, func(a, b line) int { return cmp.Compare(a.text, b.text) })
		for _, l := range sorted {
			fmt.Fprintf(bw, "%s %d\n", l.text, l.count)
		}
	}
	return bw.Flush()
}

// The field numbers of profile.proto's messages that WritePprof writes.
const (
	profileSampleType        = 1
	profileSample            = 2
	profileMapping           = 3
	profileLocation          = 4
	profileFunction          = 5
	profileStringTable       = 6
	profileTimeNanos         = 9
	profileDurationNanos     = 10
	profilePeriodType        = 11
	profileDefaultSampleType = 14

	valueTypeType, valueTypeUnit                   = 1, 2
	sampleLocationID, sampleValue, sampleLabel     = 1, 2, 3
	labelKey, labelStr, labelNum                   = 1, 2, 3
	mappingID, mappingStart, mappingLimit          = 1, 2, 3
	mappingOffset, mappingFile, mappingBuildID     = 4, 5, 6
	mappingHasFunctions                            = 7
	locationID, locationMappingID, locationAddress = 1, 2, 3
	locationLine, lineFunctionID                   = 4, 1
	functionID, functionName, functionSystemName   = 1, 2, 3
	functionFilename                               = 4
)

// sampleType is how a profile names the periods of event e, and their
// unit: the CPU time of the clocks (perfevent.Nanoseconds: task-clock and
// cpu-clock, with any modifier) is "cpu" in "nanoseconds", as pprof and
// the continuous-profiling tools name it; any other event is a count of
// itself.
func sampleType(e perfevent.Spec) (typ, unit string) {
	if u := e.Unit(); u == perfevent.Nanoseconds {
		return "cpu", u.String()
	}
	return e.Name, perfevent.Count.String()
}

// WritePprof writes the profiles as one gzipped pprof profile: a sample
// per distinct stack of each thread, labelled with the numeric pid and
// tid and the comm (the keys of google/perf_data_converter), its values
// the number of samples and the periods of each event (see sampleType);
// mappings with their files and build ids, so that pprof can symbolize
// again.
func WritePprof(w io.Writer, events []perfevent.Spec, ps []*Process, start time.Time, d time.Duration) error {
	e := newPprofEncoder()
	for _, p := range ps {
		for _, st := range p.Stacks {
			e.sample(p, st)
		}
	}
	out := e.profile(events, start, d)
	// Gzipped, as pprof writes it, but at the fastest level: the default
	// level took half the time of writing a large profile.
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	if _, err := zw.Write(out); err != nil {
		return err
	}
	return zw.Close()
}

// pprofEncoder builds a profile.proto Profile message: the samples are
// encoded as they come, with the functions and the string table they
// need; the mappings and locations at the end, once the mappings' ids
// are known.
type pprofEncoder struct {
	strs *stringTable

	maps     []*pprofMapping // in the order they were met
	mappings map[mappingKey]*pprofMapping

	functions map[[2]string]uint64 // by name and file: the id
	fns       []byte               // the Function messages

	locs   []pprofLocation // by id - 1
	locIDs map[locationKey]uint64

	samples []byte // the Sample messages

	// Scratch: a message being built, a nested one, a sample's location
	// ids and values.
	msg, inner []byte
	ids        []uint64
	values     []int64
}

// mappingKey tells a profile's mappings apart: a process's mapping of a
// file, or the kernel's.
type mappingKey struct {
	pid        int // 0 for the kernel
	path, bid  string
	kernel     bool
	start, end uint64
}

type pprofMapping struct {
	id                   uint64 // set by profile: the kernel's last
	start, limit, offset uint64
	file, buildID        string
}

// locationKey is a location: an address in a mapping. The processes of a
// fork tree, which map their binary alike, share theirs.
type locationKey struct {
	m    *pprofMapping
	addr uint64
}

type pprofLocation struct {
	m        *pprofMapping
	addr, fn uint64
}

func newPprofEncoder() *pprofEncoder {
	return &pprofEncoder{strs: newStringTable(), mappings: map[mappingKey]*pprofMapping{},
		functions: map[[2]string]uint64{}, locIDs: map[locationKey]uint64{}}
}

// sample encodes st, a stack of p: its locations, its values (the count,
// then each event's periods) and its labels, in the order google/pprof
// writes them (the string ones, then the numeric ones, each by key).
func (e *pprofEncoder) sample(p *Process, st *Stack) {
	e.ids = e.ids[:0]
	for _, id := range st.Frames {
		e.ids = append(e.ids, e.location(p, p.Frames.Frame(id)))
	}
	e.values = append(append(e.values[:0], st.Count), st.Values...)
	m := appendPacked(e.msg[:0], sampleLocationID, e.ids)
	m = appendPacked(m, sampleValue, e.values)
	for _, l := range []struct {
		key      string
		str, num int64
	}{{"comm", e.strs.id(p.Comm), 0}, {"pid", 0, int64(p.PID)}, {"tid", 0, int64(st.TID)}} {
		e.inner = appendInt(e.inner[:0], labelKey, e.strs.id(l.key))
		e.inner = appendInt(e.inner, labelStr, l.str)
		e.inner = appendInt(e.inner, labelNum, l.num)
		m = appendMessage(m, sampleLabel, e.inner)
	}
	e.msg = m
	e.samples = appendMessage(e.samples, profileSample, m)
}

// location returns the id of frame f's location in p.
func (e *pprofEncoder) location(p *Process, f symbol.Frame) uint64 {
	m := e.mapping(p, f)
	k := locationKey{m, f.Addr}
	if id, ok := e.locIDs[k]; ok {
		return id
	}
	e.locs = append(e.locs, pprofLocation{m: m, addr: f.Addr, fn: e.function(f)})
	id := uint64(len(e.locs))
	e.locIDs[k] = id
	return id
}

// mapping returns the mapping of frame f in p: the process's mapping
// that holds it (its start, end and offset, if p's mappings are known),
// or the kernel's.
func (e *pprofEncoder) mapping(p *Process, f symbol.Frame) *pprofMapping {
	k := mappingKey{pid: p.PID, path: f.Path, bid: f.BuildID, kernel: f.Kernel}
	var pm symbol.Mapping
	inProc := false
	if f.Kernel {
		k.pid = 0
	} else if pm, inProc = mappingOf(p, f.Addr); inProc {
		k.start, k.end = pm.Start, pm.End
	}
	if m, ok := e.mappings[k]; ok {
		return m
	}
	m := &pprofMapping{start: k.start, limit: k.end, file: f.Path, buildID: f.BuildID}
	if inProc {
		m.offset = pm.Offset
	}
	e.mappings[k] = m
	e.maps = append(e.maps, m)
	return m
}

// function returns the id of frame f's function, encoding it if it is
// new.
func (e *pprofEncoder) function(f symbol.Frame) uint64 {
	n := name(f)
	k := [2]string{n, f.Path}
	if id, ok := e.functions[k]; ok {
		return id
	}
	id := uint64(len(e.functions) + 1)
	e.functions[k] = id
	m := appendUint(e.inner[:0], functionID, id)
	m = appendInt(m, functionName, e.strs.id(n))
	m = appendInt(m, functionSystemName, e.strs.id(n))
	m = appendInt(m, functionFilename, e.strs.id(f.Path))
	e.inner = m
	e.fns = appendMessage(e.fns, profileFunction, m)
	return id
}

// profile returns the Profile message: the sample types of events, the
// samples, mappings (a program's first: pprof names a profile after its
// first mapping, and it must not be the kernel's), locations, functions,
// the string table, the time and duration, and the first event as the
// period type and the default.
func (e *pprofEncoder) profile(events []perfevent.Spec, start time.Time, d time.Duration) []byte {
	valueType := func(typ, unit string) []byte {
		return appendInt(appendInt(nil, valueTypeType, e.strs.id(typ)), valueTypeUnit, e.strs.id(unit))
	}
	out := appendMessage(nil, profileSampleType, valueType("samples", "count"))
	var period []byte
	var defaultType int64
	for i, ev := range events {
		typ, unit := sampleType(ev)
		vt := valueType(typ, unit)
		out = appendMessage(out, profileSampleType, vt)
		if i == 0 {
			period, defaultType = vt, e.strs.id(typ)
		}
	}
	out = append(out, e.samples...)
	ordered := slices.Clone(e.maps)
	slices.SortStableFunc(ordered, func(a, b *pprofMapping) int {
		return cmp.Compare(btoi(a.file == symbol.KernelPath), btoi(b.file == symbol.KernelPath))
	})
	for i, m := range ordered {
		m.id = uint64(i + 1)
		msg := appendUint(e.msg[:0], mappingID, m.id)
		msg = appendUint(msg, mappingStart, m.start)
		msg = appendUint(msg, mappingLimit, m.limit)
		msg = appendUint(msg, mappingOffset, m.offset)
		msg = appendInt(msg, mappingFile, e.strs.id(m.file))
		msg = appendInt(msg, mappingBuildID, e.strs.id(m.buildID))
		msg = appendBool(msg, mappingHasFunctions, true)
		e.msg = msg
		out = appendMessage(out, profileMapping, msg)
	}
	for i, l := range e.locs {
		msg := appendUint(e.msg[:0], locationID, uint64(i+1))
		msg = appendUint(msg, locationMappingID, l.m.id)
		msg = appendUint(msg, locationAddress, l.addr)
		e.inner = appendUint(e.inner[:0], lineFunctionID, l.fn)
		msg = appendMessage(msg, locationLine, e.inner)
		e.msg = msg
		out = appendMessage(out, profileLocation, msg)
	}
	out = append(out, e.fns...)
	for _, s := range e.strs.all { // complete: nothing adds strings after this
		out = appendMessage(out, profileStringTable, []byte(s))
	}
	out = appendInt(out, profileTimeNanos, start.UnixNano())
	out = appendInt(out, profileDurationNanos, d.Nanoseconds())
	if period != nil {
		out = appendMessage(out, profilePeriodType, period)
	}
	return appendInt(out, profileDefaultSampleType, defaultType)
}

// mappingOf returns the mapping of p that holds addr.
func mappingOf(p *Process, addr uint64) (symbol.Mapping, bool) {
	if p.sym == nil {
		return symbol.Mapping{}, false
	}
	for _, m := range p.sym.Mappings() {
		if m.Contains(addr) {
			return m, true
		}
	}
	return symbol.Mapping{}, false
}

// WriteTop writes, for each process (most samples first), its n hottest
// functions: the share of its samples in each function itself (self) and
// in it or what it called (total).
func WriteTop(w io.Writer, ps []*Process, n int) error {
	bw := bufio.NewWriter(w)
	sorted := slices.Clone(ps)
	slices.SortStableFunc(sorted, func(a, b *Process) int { return cmp.Compare(b.Samples, a.Samples) })
	type fn struct {
		name        string
		self, total int64
	}
	for _, p := range sorted {
		byName := map[string]*fn{}
		get := func(f symbol.Frame) *fn {
			k := name(f)
			if f.Kernel {
				k += " [k]"
			}
			e, ok := byName[k]
			if !ok {
				e = &fn{name: k}
				byName[k] = e
			}
			return e
		}
		for _, st := range p.Stacks {
			if len(st.Frames) == 0 {
				continue
			}
			get(p.Frames.Frame(st.Frames[0])).self += st.Count
			seen := map[*fn]bool{}
			for _, id := range st.Frames {
				if e := get(p.Frames.Frame(id)); !seen[e] {
					seen[e] = true
					e.total += st.Count
				}
			}
		}
		fns := make([]*fn, 0, len(byName))
		for _, e := range byName {
			fns = append(fns, e)
		}
		slices.SortFunc(fns, func(a, b *fn) int {
			if c := cmp.Compare(b.self, a.self); c != 0 {
				return c
			}
			if c := cmp.Compare(b.total, a.total); c != 0 {
				return c
			}
			return cmp.Compare(a.name, b.name)
		})
		fmt.Fprintf(bw, "\n %s %d: %d samples\n     self   total  function\n", p.Comm, p.PID, p.Samples)
		for _, e := range fns[:min(n, len(fns))] {
			fmt.Fprintf(bw, "  %6.2f%% %6.2f%%  %s\n", 100*float64(e.self)/float64(p.Samples), 100*float64(e.total)/float64(p.Samples), e.name)
		}
	}
	return bw.Flush()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
