package profiles

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/perfprof/perfprof/symbol"
)

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
	if err := WritePprof(&b, []Event{EventOf("task-clock")}, testProcs(), time.Unix(1, 0), time.Second); err != nil {
		t.Fatal(err)
	}
	p, err := profile.Parse(&b)
	if err != nil {
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
