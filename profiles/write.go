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
	strs := newStringTable()
	valueType := func(typ, unit string) []byte {
		return appendInt(appendInt(nil, valueTypeType, strs.id(typ)), valueTypeUnit, strs.id(unit))
	}
	head := appendMessage(nil, profileSampleType, valueType("samples", "count"))
	var period []byte // the first event's value type
	for i, e := range events {
		vt := valueType(sampleType(e))
		head = appendMessage(head, profileSampleType, vt)
		if i == 0 {
			period = vt
		}
	}
	type mkey struct {
		pid        int
		path, bid  string
		kernel     bool
		start, end uint64
	}
	type mapping struct {
		id                   uint64 // set once all are known: the kernel's last
		start, limit, offset uint64
		file, buildID        string
	}
	var maps []*mapping
	mappings := map[mkey]*mapping{}
	mappingFor := func(p *Process, f symbol.Frame) *mapping {
		k := mkey{pid: p.PID, path: f.Path, bid: f.BuildID, kernel: f.Kernel}
		pm, inProc := symbol.Mapping{}, false
		if f.Kernel {
			k.pid = 0
		} else if pm, inProc = mappingOf(p, f.Addr); inProc {
			k.start, k.end = pm.Start, pm.End
		}
		if m, ok := mappings[k]; ok {
			return m
		}
		m := &mapping{start: k.start, limit: k.end, file: f.Path, buildID: f.BuildID}
		if inProc {
			m.offset = pm.Offset
		}
		mappings[k] = m
		maps = append(maps, m)
		return m
	}
	var fns []byte // the Function messages
	functions := map[[2]string]uint64{}
	function := func(f symbol.Frame) uint64 {
		n := name(f)
		k := [2]string{n, f.Path}
		if id, ok := functions[k]; ok {
			return id
		}
		id := uint64(len(functions) + 1)
		functions[k] = id
		msg := appendUint(nil, functionID, id)
		msg = appendInt(msg, functionName, strs.id(n))
		msg = appendInt(msg, functionSystemName, strs.id(n))
		msg = appendInt(msg, functionFilename, strs.id(f.Path))
		fns = appendMessage(fns, profileFunction, msg)
		return id
	}
	// A location is an address in a mapping: the processes of a fork
	// tree, which map their binary alike, share theirs.
	type location struct {
		m        *mapping
		addr, fn uint64
	}
	type locKey struct {
		m    *mapping
		addr uint64
	}
	var locs []location // by id - 1
	locIDs := map[locKey]uint64{}
	var samples, msg, label []byte
	var locIDsOf []uint64
	var values []int64
	for _, p := range ps {
		comm, pid := strs.id(p.Comm), int64(p.PID)
		for _, st := range p.Stacks {
			locIDsOf = locIDsOf[:0]
			for _, id := range st.Frames {
				f := p.Frames.Frame(id)
				m := mappingFor(p, f)
				k := locKey{m, f.Addr}
				lid, ok := locIDs[k]
				if !ok {
					locs = append(locs, location{m: m, addr: f.Addr, fn: function(f)})
					lid = uint64(len(locs))
					locIDs[k] = lid
				}
				locIDsOf = append(locIDsOf, lid)
			}
			values = append(append(values[:0], st.Count), st.Values...)
			msg = appendPacked(msg[:0], sampleLocationID, locIDsOf)
			msg = appendPacked(msg, sampleValue, values)
			// The labels as google/pprof orders them: the string ones,
			// then the numeric ones, each by key.
			label = appendInt(appendInt(label[:0], labelKey, strs.id("comm")), labelStr, comm)
			msg = appendMessage(msg, sampleLabel, label)
			label = appendInt(appendInt(label[:0], labelKey, strs.id("pid")), labelNum, pid)
			msg = appendMessage(msg, sampleLabel, label)
			label = appendInt(appendInt(label[:0], labelKey, strs.id("tid")), labelNum, int64(st.TID))
			msg = appendMessage(msg, sampleLabel, label)
			samples = appendMessage(samples, profileSample, msg)
		}
	}
	// pprof names a profile after its first mapping: a program's, not
	// the kernel's.
	ordered := slices.Clone(maps)
	slices.SortStableFunc(ordered, func(a, b *mapping) int {
		return cmp.Compare(btoi(a.file == symbol.KernelPath), btoi(b.file == symbol.KernelPath))
	})
	out := append(head, samples...)
	for i, m := range ordered {
		m.id = uint64(i + 1)
		msg = appendUint(msg[:0], mappingID, m.id)
		msg = appendUint(msg, mappingStart, m.start)
		msg = appendUint(msg, mappingLimit, m.limit)
		msg = appendUint(msg, mappingOffset, m.offset)
		msg = appendInt(msg, mappingFile, strs.id(m.file))
		msg = appendInt(msg, mappingBuildID, strs.id(m.buildID))
		msg = appendBool(msg, mappingHasFunctions, true)
		out = appendMessage(out, profileMapping, msg)
	}
	for i, l := range locs {
		msg = appendUint(msg[:0], locationID, uint64(i+1))
		msg = appendUint(msg, locationMappingID, l.m.id)
		msg = appendUint(msg, locationAddress, l.addr)
		label = appendUint(label[:0], lineFunctionID, l.fn)
		msg = appendMessage(msg, locationLine, label)
		out = appendMessage(out, profileLocation, msg)
	}
	out = append(out, fns...)
	var defaultType int64
	if len(events) > 0 {
		typ, _ := sampleType(events[0])
		defaultType = strs.id(typ)
	}
	for _, s := range strs.all {
		out = appendMessage(out, profileStringTable, []byte(s))
	}
	out = appendInt(out, profileTimeNanos, start.UnixNano())
	out = appendInt(out, profileDurationNanos, d.Nanoseconds())
	if period != nil {
		out = appendMessage(out, profilePeriodType, period)
	}
	out = appendInt(out, profileDefaultSampleType, defaultType)
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
