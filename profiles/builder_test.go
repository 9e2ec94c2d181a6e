package profiles

import (
	"os"
	"testing"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"github.com/perfprof/perfprof/symbol"
)

// TestBuilderContexts: a call chain's markers, not its addresses, tell
// kernel frames from user ones; a user frame at a kernel address (a
// frame-pointer walk past the outermost frame) is an unknown user frame.
func TestBuilderContexts(t *testing.T) {
	pid := os.Getpid()
	bl := NewBuilder(events(t, "task-clock"))
	task := pidtree.Task{TID: pid, TGID: pid, Proc: 1}
	bl.Start(task, "test")
	const kaddr, junk = 0xffffffff81000010, 0xbe552274c0854800
	rec := &perfevent.SampleRecord{PID: pid, TID: pid, Period: 1000, Callchain: []uint64{
		uint64(perfevent.ContextKernel), kaddr,
		uint64(perfevent.ContextUser), 0x1000, junk,
	}}
	bl.Sample(&profdev.Sample{Task: task, Comm: "test", Record: rec})
	bl.mu.Lock()
	defer bl.mu.Unlock()
	p := bl.procs[1]
	if len(p.Stacks) != 1 {
		t.Fatalf("%d stacks, want 1", len(p.Stacks))
	}
	for _, st := range p.Stacks {
		var got []symbol.Frame
		for _, id := range st.Frames {
			got = append(got, p.Frames.Frame(id))
		}
		if len(got) != 3 {
			t.Fatalf("frames %+v, want 3 (the markers are not frames)", got)
		}
		if !got[0].Kernel || got[0].Addr != kaddr {
			t.Errorf("frame 0 %+v: want the kernel's, at %#x", got[0], uint64(kaddr))
		}
		if got[1].Kernel || got[2].Kernel || got[2].Addr != junk || got[2].Func != "" {
			t.Errorf("frames 1, 2 %+v %+v: want user frames, the second unknown at %#x", got[1], got[2], uint64(junk))
		}
	}
}

// TestBuilderCut: Cut hands over the samples so far and counts anew; an
// ended process is forgotten once its samples were cut.
func TestBuilderCut(t *testing.T) {
	pid := os.Getpid()
	bl := NewBuilder(events(t, "task-clock"))
	a := pidtree.Task{TID: pid, TGID: pid, Proc: 1}
	b := pidtree.Task{TID: pid + 1, TGID: pid + 1, Proc: 2}
	bl.Start(a, "a")
	bl.Start(b, "b")
	sample := func(task pidtree.Task, n int) {
		rec := &perfevent.SampleRecord{PID: task.TGID, TID: task.TID, Period: 10, Callchain: []uint64{uint64(perfevent.ContextUser), 0x1000}}
		for range n {
			bl.Sample(&profdev.Sample{Task: task, Comm: "x", Record: rec})
		}
	}
	sample(a, 3)
	sample(b, 2)
	bl.End(b)
	got := bl.Cut()
	if len(got) != 2 || got[0].Samples != 3 || got[1].Samples != 2 || got[0].Values[0] != 30 {
		t.Fatalf("first cut: %+v", got)
	}
	sample(a, 1)
	got = bl.Cut()
	if len(got) != 1 || got[0].PID != pid || got[0].Samples != 1 {
		t.Fatalf("second cut: %+v, want a's one sample", got)
	}
	bl.mu.Lock()
	n, m := len(bl.order), len(bl.procs)
	bl.mu.Unlock()
	if n != 1 || m != 1 {
		t.Errorf("%d processes in order, %d by proc after the cuts, want 1 and 1 (b ended)", n, m)
	}
}
