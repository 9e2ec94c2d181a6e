package profiles

import (
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"github.com/perfprof/perfprof/symbol"
)

// BenchmarkBuilderSample is a sample of a stack its process showed
// before: what most samples cost (the first of a stack pays for its
// symbols).
func BenchmarkBuilderSample(b *testing.B) {
	pid := os.Getpid()
	bl := NewBuilder(events(b, "task-clock"))
	task := pidtree.Task{TID: pid, TGID: pid, Proc: 1}
	bl.Start(task, "bench")
	rec := &perfevent.SampleRecord{PID: pid, TID: pid, Period: 1000,
		Callchain: []uint64{uint64(perfevent.ContextUser), 0x401000, 0x401100, 0x401200, 0x401300, 0x401400, 0x401500, 0x401600}}
	s := &profdev.Sample{Task: task, Comm: "bench", Record: rec}
	bl.Sample(s)
	b.ReportAllocs()
	for b.Loop() {
		bl.Sample(s)
	}
}

// BenchmarkWritePprof is the pprof encoding of a profile of 1,000
// distinct 8-frame stacks over 10 processes, per stack.
func BenchmarkWritePprof(b *testing.B) {
	var ps []*Process
	t := NewFrames()
	for p := range 10 {
		pr := &Process{PID: 100 + p, Comm: "app", Stacks: map[string]*Stack{}, Frames: t, Values: []int64{0}}
		for i := range 100 {
			st := &Stack{TID: 100 + p, Count: 1, Values: []int64{1e6}}
			for f := range 8 {
				addr := uint64(0x1000 + 16*(i*8+f))
				st.Frames = append(st.Frames, t.ID(symbol.Frame{Addr: addr, Func: "fn" + strconv.Itoa((i*8+f)%200), Path: "/usr/bin/app"}))
			}
			pr.Stacks[strconv.Itoa(i)] = st
			pr.Samples++
		}
		ps = append(ps, pr)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := WritePprof(io.Discard, events(b, "task-clock"), ps, time.Now(), time.Second); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/stack")
}
