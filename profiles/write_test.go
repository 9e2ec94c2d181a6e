package profiles

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"github.com/perfprof/perfprof/symbol"
)

// events parses the events list, or fails tb.
func events(tb testing.TB, list string) []perfevent.Spec {
	tb.Helper()
	s, err := perfevent.Parse(list)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// ids adds frames to t and returns their indexes.
func ids(t *Frames, frames ...symbol.Frame) []int32 {
	var ids []int32
	for _, f := range frames {
		ids = append(ids, t.ID(f))
	}
	return ids
}

// testProcs is two processes, one with a kernel frame under a user one.
func testProcs() []*Process {
	t := NewFrames()
	user := func(fn string, addr uint64) symbol.Frame {
		return symbol.Frame{Addr: addr, Func: fn, Path: "/usr/bin/app"}
	}
	kern := symbol.Frame{Addr: 0xffffffff81000010, Func: "schedule", Path: symbol.KernelPath, Kernel: true}
	return []*Process{
		{PID: 10, Comm: "app", Samples: 5, Values: []int64{5e6}, Frames: t, Stacks: map[string]*Stack{
			"a": {TID: 10, Frames: ids(t, user("hot", 0x1010), user("main", 0x1100)), Count: 4, Values: []int64{4e6}},
			"b": {TID: 11, Frames: ids(t, kern, user("main", 0x1100)), Count: 1, Values: []int64{1e6}},
		}},
		{PID: 20, Comm: "a;b", Samples: 2, Values: []int64{2e6}, Frames: t, Stacks: map[string]*Stack{
			"c": {TID: 20, Frames: ids(t, symbol.Frame{Addr: 0x2000}), Count: 2, Values: []int64{2e6}},
		}},
	}
}

func TestWriteFolded(t *testing.T) {
	var b bytes.Buffer
	if err := WriteFolded(&b, testProcs()); err != nil {
		t.Fatal(err)
	}
	want := "app-10;main;hot 4\napp-10;main;schedule_[k] 1\na_b-20;[unknown] 2\n"
	if b.String() != want {
		t.Errorf("folded:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWritePprof(t *testing.T) {
	var b bytes.Buffer
	if err := WritePprof(&b, events(t, "task-clock"), testProcs(), time.Unix(1, 0), time.Second); err != nil {
		t.Fatal(err)
	}
	p, err := profile.Parse(&b)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CheckValid(); err != nil {
		t.Fatal(err)
	}
	if len(p.Sample) != 3 || p.SampleType[1].Type != "cpu" || p.Mapping[0].File != "/usr/bin/app" {
		t.Fatalf("profile:\n%v", p)
	}
	var hot int64
	for _, s := range p.Sample {
		if s.Location[0].Line[0].Function.Name == "hot" {
			hot = s.Value[1]
			if s.NumLabel["pid"][0] != 10 || s.NumLabel["tid"][0] != 10 || s.Label["comm"][0] != "app" {
				t.Errorf("labels %v %v", s.NumLabel, s.Label)
			}
		}
	}
	if hot != 4e6 {
		t.Errorf("hot: %d ns, want 4e6", hot)
	}
	if last := p.Mapping[len(p.Mapping)-1]; last.File != symbol.KernelPath || p.TimeNanos != 1e9 || p.DurationNanos != 1e9 {
		t.Errorf("last mapping %v (want the kernel's), time %d, duration %d", last, p.TimeNanos, p.DurationNanos)
	}
}

// TestWritePprofUnits: the periods of the clocks are CPU time in
// nanoseconds whatever their modifier (task-clock:u is what perfprof
// counts for a user without privileges), those of any other event a
// count of it; the first event is the profile's default and its period
// type. go tool pprof then shows the clocks' totals in ms or s.
func TestWritePprofUnits(t *testing.T) {
	for _, tc := range []struct {
		events string
		want   []string // type/unit of each event
	}{
		{"task-clock", []string{"cpu/nanoseconds"}},
		{"task-clock:u", []string{"cpu/nanoseconds"}},
		{"cpu-clock:k,page-faults:u", []string{"cpu/nanoseconds", "page-faults:u/count"}},
		{"page-faults,task-clock:u", []string{"page-faults/count", "cpu/nanoseconds"}},
	} {
		evs := events(t, tc.events)
		procs := testProcs()
		for _, p := range procs {
			p.Values = make([]int64, len(evs))
			for _, st := range p.Stacks {
				st.Values = make([]int64, len(evs))
			}
		}
		var b bytes.Buffer
		if err := WritePprof(&b, evs, procs, time.Unix(1, 0), time.Second); err != nil {
			t.Fatal(err)
		}
		p, err := profile.Parse(&b)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, st := range p.SampleType {
			got = append(got, st.Type+"/"+st.Unit)
		}
		want := append([]string{"samples/count"}, tc.want...)
		first, _, _ := strings.Cut(tc.want[0], "/")
		if !slices.Equal(got, want) || p.DefaultSampleType != first || p.PeriodType == nil ||
			p.PeriodType.Type+"/"+p.PeriodType.Unit != tc.want[0] {
			t.Errorf("-e %s: sample types %v, default %q, period type %v; want %v, default %q", tc.events, got, p.DefaultSampleType, p.PeriodType, want, first)
		}
	}
}

// TestWritePprofMatchesReference: WritePprof writes what google/pprof's
// own encoder wrote of the same processes (WritePprof used it before):
// read back by google/pprof's parser, the two have the same sample types,
// samples (locations, values, labels), mappings and functions. The
// processes are this test's own, sampled at its own functions, so that
// their frames have real mappings, files and build ids.
func TestWritePprofMatchesReference(t *testing.T) {
	pid := os.Getpid()
	evs := events(t, "task-clock,page-faults")
	bl := NewBuilder(evs)
	main := pidtree.Task{TID: pid, TGID: pid, Proc: 1}
	other := pidtree.Task{TID: pid + 1, TGID: pid, Proc: 1}
	bl.Start(main, "test")
	pcs := make([]uintptr, 16)
	pcs = pcs[:runtime.Callers(0, pcs)]
	for i := range pcs {
		chain := []uint64{uint64(perfevent.ContextKernel), 0xffffffff81000010 + uint64(i), uint64(perfevent.ContextUser)}
		for _, pc := range pcs[i:] {
			chain = append(chain, uint64(pc))
		}
		for j, task := range []pidtree.Task{main, other} {
			rec := &perfevent.SampleRecord{PID: pid, TID: task.TID, Period: uint64(1000 * (i + 1)), Callchain: chain}
			bl.Sample(&profdev.Sample{Task: task, Comm: "test", Event: j, Record: rec})
		}
	}
	procs := bl.Processes()
	var ours, ref bytes.Buffer
	if err := WritePprof(&ours, evs, procs, time.Unix(5, 0), 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := referencePprof(&ref, evs, procs, time.Unix(5, 0), 3*time.Second); err != nil {
		t.Fatal(err)
	}
	got, want := parseCanonical(t, &ours), parseCanonical(t, &ref)
	if !slices.Equal(got, want) {
		t.Errorf("WritePprof:\n%s\n\ngoogle/pprof's encoder:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(got) < len(pcs) {
		t.Errorf("only %d lines:\n%s", len(got), strings.Join(got, "\n"))
	}
}

// parseCanonical parses a gzipped profile and returns its content as
// lines that do not depend on the order of its samples, locations or ids.
func parseCanonical(t *testing.T, r io.Reader) []string {
	t.Helper()
	p, err := profile.Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CheckValid(); err != nil {
		t.Fatal(err)
	}
	mapping := func(m *profile.Mapping) string {
		return fmt.Sprintf("%s %x-%x+%x %q fn=%v", m.File, m.Start, m.Limit, m.Offset, m.BuildID, m.HasFunctions)
	}
	var lines []string
	for _, s := range p.Sample {
		var b strings.Builder
		fmt.Fprintf(&b, "sample %v %v %v:", s.Value, s.Label, s.NumLabel)
		for _, l := range s.Location {
			fmt.Fprintf(&b, " [%x %s", l.Address, mapping(l.Mapping))
			for _, ln := range l.Line {
				fmt.Fprintf(&b, " %s/%s/%s", ln.Function.Name, ln.Function.SystemName, ln.Function.Filename)
			}
			b.WriteString("]")
		}
		lines = append(lines, b.String())
	}
	slices.Sort(lines)
	head := []string{fmt.Sprintf("time %d duration %d period %v/%d default %q", p.TimeNanos, p.DurationNanos, p.PeriodType, p.Period, p.DefaultSampleType)}
	for _, st := range p.SampleType {
		head = append(head, "type "+st.Type+"/"+st.Unit)
	}
	for _, m := range p.Mapping { // in order: the program's first, the kernel's last
		head = append(head, fmt.Sprintf("mapping %d %s", m.ID, mapping(m)))
	}
	return append(head, lines...)
}

// referencePprof is WritePprof as it was written with google/pprof's
// profile package.
func referencePprof(w io.Writer, events []perfevent.Spec, ps []*Process, start time.Time, d time.Duration) error {
	prof := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "samples", Unit: "count"}},
		TimeNanos:     start.UnixNano(),
		DurationNanos: d.Nanoseconds(),
	}
	for _, e := range events {
		typ, unit := sampleType(e)
		prof.SampleType = append(prof.SampleType, &profile.ValueType{Type: typ, Unit: unit})
	}
	if len(events) > 0 {
		prof.PeriodType = prof.SampleType[1]
		prof.DefaultSampleType = prof.SampleType[1].Type
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
	type locKey struct {
		m    *profile.Mapping
		addr uint64
	}
	locs := map[locKey]*profile.Location{}
	for _, p := range ps {
		comm := map[string][]string{"comm": {p.Comm}}
		for _, st := range p.Stacks {
			s := &profile.Sample{Value: append([]int64{st.Count}, st.Values...), Label: comm,
				NumLabel: map[string][]int64{"pid": {int64(p.PID)}, "tid": {int64(st.TID)}}}
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
	slices.SortStableFunc(prof.Mapping, func(a, b *profile.Mapping) int {
		return cmp.Compare(btoi(a.File == symbol.KernelPath), btoi(b.File == symbol.KernelPath))
	})
	for i, m := range prof.Mapping {
		m.ID = uint64(i + 1)
	}
	if err := prof.CheckValid(); err != nil {
		return err
	}
	return prof.Write(w)
}

func TestWriteTop(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTop(&b, testProcs(), 10); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{" app 10: 5 samples", "80.00%  80.00%  hot", "0.00% 100.00%  main", "20.00%  20.00%  schedule [k]"} {
		if !strings.Contains(out, want) {
			t.Errorf("top lacks %q:\n%s", want, out)
		}
	}
}
