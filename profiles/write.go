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

	"github.com/google/pprof/profile"
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

// WritePprof writes the profiles as one gzipped pprof profile: a sample
// per distinct stack of each thread, labelled with the numeric pid and
// tid and the comm (the keys of google/perf_data_converter), its values
// the number of samples and the periods of each event; mappings with
// their files and build ids, so that pprof can symbolize again.
func WritePprof(w io.Writer, events []Event, ps []*Process, start time.Time, d time.Duration) error {
	prof := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "samples", Unit: "count"}},
		TimeNanos:     start.UnixNano(),
		DurationNanos: d.Nanoseconds(),
	}
	for _, e := range events {
		prof.SampleType = append(prof.SampleType, &profile.ValueType{Type: e.Name, Unit: e.Unit})
	}
	if len(events) > 0 {
		prof.PeriodType = prof.SampleType[1]
		prof.DefaultSampleType = events[0].Name
	}
	type mkey struct {
		pid        int
		path, bid  string
		kernel     bool
		start, end uint64
	}
	mappings := map[mkey]*profile.Mapping{}
	functions := map[[2]string]*profile.Function{}
	mapping := func(p *Process, f symbol.Frame) *profile.Mapping {
		k := mkey{pid: p.PID, path: f.Path, bid: f.BuildID, kernel: f.Kernel}
		if f.Kernel {
			k.pid = 0
		} else if m, ok := mappingOf(p, f.Addr); ok {
			k.start, k.end = m.Start, m.End
		}
		if m, ok := mappings[k]; ok {
			return m
		}
		m := &profile.Mapping{ID: uint64(len(prof.Mapping) + 1), Start: k.start, Limit: k.end,
			File: f.Path, BuildID: f.BuildID, HasFunctions: true}
		if !f.Kernel {
			if pm, ok := mappingOf(p, f.Addr); ok {
				m.Offset = pm.Offset
			}
		}
		mappings[k] = m
		prof.Mapping = append(prof.Mapping, m)
		return m
	}
	function := func(f symbol.Frame) *profile.Function {
		n := name(f)
		k := [2]string{n, f.Path}
		if fn, ok := functions[k]; ok {
			return fn
		}
		fn := &profile.Function{ID: uint64(len(prof.Function) + 1), Name: n, SystemName: n, Filename: f.Path}
		functions[k] = fn
		prof.Function = append(prof.Function, fn)
		return fn
	}
	// A location is an address in a mapping: the processes of a fork
	// tree, which map their binary alike, share theirs.
	type locKey struct {
		m    *profile.Mapping
		addr uint64
	}
	locs := map[locKey]*profile.Location{}
	for _, p := range ps {
		comm := map[string][]string{"comm": {p.Comm}}
		threads := map[int]map[string][]int64{} // the labels of each thread's samples, shared
		for _, st := range p.Stacks {
			num, ok := threads[st.TID]
			if !ok {
				num = map[string][]int64{"pid": {int64(p.PID)}, "tid": {int64(st.TID)}}
				threads[st.TID] = num
			}
			s := &profile.Sample{
				Value:    append([]int64{st.Count}, st.Values...),
				Label:    comm,
				NumLabel: num,
				Location: make([]*profile.Location, 0, len(st.Frames)),
			}
			for _, id := range st.Frames {
				f := p.Frames.Frame(id)
				m := mapping(p, f)
				k := locKey{m, f.Addr}
				l, ok := locs[k]
				if !ok {
					l = &profile.Location{ID: uint64(len(prof.Location) + 1), Address: f.Addr, Mapping: m,
						Line: []profile.Line{{Function: function(f)}}}
					locs[k] = l
					prof.Location = append(prof.Location, l)
				}
				s.Location = append(s.Location, l)
			}
			prof.Sample = append(prof.Sample, s)
		}
	}
	// pprof names a profile after its first mapping: a program's, not
	// the kernel's.
	slices.SortStableFunc(prof.Mapping, func(a, b *profile.Mapping) int {
		return cmp.Compare(btoi(a.File == symbol.KernelPath), btoi(b.File == symbol.KernelPath))
	})
	for i, m := range prof.Mapping {
		m.ID = uint64(i + 1)
	}
	if err := prof.CheckValid(); err != nil {
		return fmt.Errorf("pprof profile: %w", err)
	}
	// Gzipped, as pprof writes it, but at the fastest level: the default
	// level took half the time of writing a large profile.
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	if err := prof.WriteUncompressed(zw); err != nil {
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
